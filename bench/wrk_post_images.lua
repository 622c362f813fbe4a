-- wrk script of bench/serve_load.py: every connection POSTs the image files given after `--` in turn (raw
-- bytes, application/octet-stream) to the URL's path; at the end one JSON line with the counts and the
-- latency percentiles in microseconds.
--     wrk -t T -c C -d Ds -s bench/wrk_post_images.lua http://127.0.0.1:PORT/v1/predict -- a.jpg b.jpg ...

local requests = {}
local next_request = 1

function init(args)
  for i, file in ipairs(args) do
    local handle = assert(io.open(file, "rb"))
    local body = handle:read("*a")
    handle:close()
    requests[i] = wrk.format("POST", nil, {["Content-Type"] = "application/octet-stream"}, body)
  end
  assert(#requests > 0, "no image files after --")
end

function request()
  local text = requests[next_request]
  next_request = next_request % #requests + 1
  return text
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
