-- POST /api/multipart/{id}/parts/{n} (sign one part) as a signed-in teammate.
-- env: EGX_COOKIE, EGX_CSRF, EGX_UPLOAD_ID, EGX_PART_COUNT
package.path = os.getenv("BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local r = require("report")
setup, response, done = r.setup, r.response, r.done
local headers, n, id, parts
function init(args)
  headers = { ["Cookie"] = r.env("EGX_COOKIE"), ["x-csrf-token"] = r.env("EGX_CSRF") }
  id, parts, n = r.env("EGX_UPLOAD_ID"), tonumber(r.env("EGX_PART_COUNT")), 0
end
function request()
  n = n + 1
  return wrk.format("POST", string.format("/api/multipart/%s/parts/%d", id, (n + tid * 7919) % parts + 1), headers, "")
end
