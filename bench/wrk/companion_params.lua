-- Uppy Companion GET /s3/params (a presigned form POST for one file).
package.path = os.getenv("BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local r = require("report")
setup, response, done = r.setup, r.response, r.done
local n = 0
function request()
  n = n + 1
  return wrk.format("GET", string.format("/s3/params?filename=t%d-file-%d.csv&type=text%%2Fcsv", tid, n))
end
