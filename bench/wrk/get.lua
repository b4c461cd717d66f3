-- $WRK_METHOD (default GET) $WRK_PATH, with $EGX_COOKIE when set (pages of a
-- signed-in person).
package.path = os.getenv("BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local r = require("report")
setup, response, done = r.setup, r.response, r.done
local req
function init(args)
  local cookie = os.getenv("EGX_COOKIE")
  local headers = {}
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
  req = wrk.format(r.env("WRK_METHOD", "GET"), r.env("WRK_PATH"), headers)
end
function request()
  return req
end
