-- The summary every bench script prints at the end: one BENCHJSON line that bench/wrk.py's
-- parse() reads. Loaded by each script with
--   dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
-- (bench/wrk.py's run() sets BENCH_LUA_DIR to this folder).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,' ..
    '"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
