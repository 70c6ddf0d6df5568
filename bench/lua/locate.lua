-- wrk script: GET /api/v1/grids/locate at a random point inside BENCH_BOX
-- ("west,south,east,north"), as fast as the connections go.
local west, south, east, north
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  local parts = {}
  for v in string.gmatch(os.getenv("BENCH_BOX"), "[^,]+") do table.insert(parts, tonumber(v)) end
  west, south, east, north = parts[1], parts[2], parts[3], parts[4]
  math.randomseed((tid or 1) * 104729 + os.time())
end
function request()
  local lat = south + math.random() * (north - south)
  local lng = west + math.random() * (east - west)
  return wrk.format("GET", string.format("/api/v1/grids/locate?lat=%.6f&lng=%.6f", lat, lng))
end

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")  -- done(): the BENCHJSON line
