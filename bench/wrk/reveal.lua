-- POST /l/{id}/reveal over a list of one-time links, each revealed once:
-- thread t of T takes lines t, t+T, t+2T... of $EGX_LINKS_FILE ("ID CHECK":
-- the key check the page's script computes from the #fragment); each request
-- comes "from" its own address (X-Forwarded-For, the portal trusts 127.0.0.1
-- as a proxy in this benchmark) so the per-address limit does not bite.
-- Once a thread runs out of links it reveals its last one again (refused: 404).
package.path = os.getenv("BENCH_WRK_DIR") .. "/?.lua;" .. package.path
local r = require("report")
setup, response, done = r.setup, r.response, r.done
local ids, i
function init(args)
  ids, i = {}, 0
  local all = {}
  for line in io.lines(r.env("EGX_LINKS_FILE")) do
    local id, check = line:match("^(%S+) (%S+)$")
    if id then table.insert(all, { id = id, check = check }) end
  end
  local threads = tonumber(r.env("WRK_THREADS"))
  for k = tid, #all, threads do table.insert(ids, all[k]) end
end
function request()
  i = i + 1
  local link = ids[math.min(i, #ids)]
  local ip = string.format("10.%d.%d.%d", tid, math.floor(i / 250) % 250, i % 250 + 1)
  return wrk.format("POST", "/l/" .. link.id .. "/reveal",
    { ["X-Forwarded-For"] = ip, ["Content-Type"] = "application/json" },
    string.format('{"check":"%s"}', link.check))
end
