-- Uppy Companion GET /s3/multipart/{uploadId}/{n}?key=... (sign one part).
-- env: COMPANION_UPLOAD_ID, COMPANION_KEY (URL-encoded), EGX_PART_COUNT
package.path = os.getenv("BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local r = require("report")
setup, response, done = r.setup, r.response, r.done
local n, id, key, parts
function init(args)
  id, key, parts, n = r.env("COMPANION_UPLOAD_ID"), r.env("COMPANION_KEY"), tonumber(r.env("EGX_PART_COUNT")), 0
end
function request()
  n = n + 1
  return wrk.format("GET", string.format("/s3/multipart/%s/%d?key=%s", id, (n + tid * 7919) % parts + 1, key))
end
