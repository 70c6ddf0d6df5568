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

dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")  -- done(): the BENCHJSON line
