-- bench/wrk/report.lua — shared by the wrk scripts here: per-thread status
-- counts, and a one-line JSON summary written to $WRK_JSON when wrk is done
-- (requests/s, p50/p90/p99/max latency in ms, errors, 2xx and non-2xx counts).
local M = {}
local threads = {}
local counter = 0

function M.setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function M.env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then
    if default == nil then error(name .. " is not set") end
    return default
  end
  return v
end

ok_count, bad_count = 0, 0
function M.response(status, headers, body)
  if status >= 200 and status < 300 then ok_count = ok_count + 1 else bad_count = bad_count + 1 end
end

function M.done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, t in ipairs(threads) do
    ok = ok + (t:get("ok_count") or 0)
    bad = bad + (t:get("bad_count") or 0)
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  local line = string.format(
    '{"requests":%d,"seconds":%.3f,"req_per_sec":%.1f,"ok_per_sec":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"ok":%d,"non_2xx":%d,"socket_errors":%d,"timeouts":%d}',
    summary.requests, secs, summary.requests / secs, ok / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    ok, bad, e.connect + e.read + e.write, e.timeout)
  local path = os.getenv("WRK_JSON")
  if path and path ~= "" then
    local f = assert(io.open(path, "w"))
    f:write(line, "\n")
    f:close()
  end
  io.write("json: ", line, "\n")
end

return M
