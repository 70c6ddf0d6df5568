-- wrk script: GET BENCH_PATH (with "Authorization: Bearer BENCH_TOKEN" when set), as fast as
-- the connections go.
function init(args)
  local token = os.getenv("BENCH_TOKEN") or ""
  wrk.headers["Accept"] = "application/json"
  if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
  path = os.getenv("BENCH_PATH")
end
function request()
  return wrk.format("GET", path)
end
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
