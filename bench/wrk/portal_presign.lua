-- POST /api/uploads (sign one PUT) as a signed-in teammate.
-- env: EGX_COOKIE (egx_session=...), EGX_CSRF
package.path = os.getenv("BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local r = require("report")
setup, response, done = r.setup, r.response, r.done
local headers, n
function init(args)
  headers = { ["Cookie"] = r.env("EGX_COOKIE"), ["x-csrf-token"] = r.env("EGX_CSRF"), ["Content-Type"] = "application/json" }
  n = 0
end
function request()
  n = n + 1
  local body = string.format('{"prefix":"batch","folder":"bench","relative_path":"t%d/file-%d.csv","size":1048576}', tid, n)
  return wrk.format("POST", "/api/uploads", headers, body)
end
