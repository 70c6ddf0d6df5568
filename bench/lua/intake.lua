-- wrk script: POST /api/v1/cases with a unique body and a random point inside a box.
-- Environment: BENCH_TOKEN, BENCH_BOX ("west,south,east,north"), BENCH_CATEGORY,
-- BENCH_RATE (requests/s over all threads; 0 = as fast as the connections go), BENCH_THREADS.
-- Fixed offered load: each thread keeps its own schedule (one slot every threads/rate
-- seconds) and delay() holds a ready connection until the next slot, so the offered rate
-- does not follow the latency (late slots are caught up, not skipped).
local ffi = require("ffi")
ffi.cdef [[
typedef struct bench_timespec { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec[1]")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts[0].tv_sec) * 1000 + tonumber(ts[0].tv_nsec) / 1e6
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local counter, interval, next_at = 0, 0, nil
local west, south, east, north
local headers_base, category, path

function init(args)
  local box = os.getenv("BENCH_BOX") or "120.10,30.24,120.19,30.30"
  local parts = {}
  for v in string.gmatch(box, "[^,]+") do table.insert(parts, tonumber(v)) end
  west, south, east, north = parts[1], parts[2], parts[3], parts[4]
  local rate = tonumber(os.getenv("BENCH_RATE") or "0")
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  if rate > 0 then interval = 1000.0 * nthreads / rate end
  category = os.getenv("BENCH_CATEGORY") or "0501"
  path = os.getenv("BENCH_PATH") or "/api/v1/cases"
  math.randomseed((tid or 1) * 7919 + os.time())
  headers_base = {["Content-Type"] = "application/json", ["Host"] = wrk.headers["Host"]}
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then headers_base["Authorization"] = "Bearer " .. token end
end

function delay()
  if interval == 0 then return 0 end
  local now = now_ms()
  if next_at == nil then next_at = now end
  next_at = next_at + interval
  local d = next_at - now
  if d < 1 then return 0 end
  return math.floor(d)
end

local places = {"小区门口", "学院路口", "菜市场旁", "公交站台", "老旧楼道", "河道边"}
local problems = {"井盖缺失", "路灯不亮", "垃圾暴露", "路面坑槽", "乱停车", "积水严重"}

function request()
  counter = counter + 1
  local lat = south + math.random() * (north - south)
  local lng = west + math.random() * (east - west)
  local id = string.format("%d-%d-%d", tid or 1, counter, math.random(1, 2000000000))
  local body = string.format(
    '{"category_code":"%s","channel":"mini_program","description":"%s%s（压测 %s）",' ..
    '"location":{"lat":%.6f,"lng":%.6f}}',
    category, places[math.random(#places)], problems[math.random(#problems)], id, lat, lng)
  local headers = {}
  for k, v in pairs(headers_base) do headers[k] = v end
  headers["Idempotency-Key"] = "bench-" .. id
  return wrk.format("POST", path, headers, body)
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")  -- done(): the BENCHJSON line
