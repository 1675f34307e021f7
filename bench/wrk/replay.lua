-- Replays pre-signed webhook requests from a file, each used once across all threads.
-- File: one request per line, "path<TAB>form body<TAB>X-Twilio-Signature".
-- Environment: BENCH_REQUESTS (the file), BENCH_THREADS (wrk's -t).

local count = 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
end

local queue = {}
local pos = 0

function init(args)
  local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local n = 0
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    if n % threads == id then
      local p, b, s = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)")
      queue[#queue + 1] = wrk.format("POST", p, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = s,
      }, b)
    end
    n = n + 1
  end
end

function request()
  pos = pos + 1
  if pos > #queue then
    pos = 1  -- ran out: repeats are duplicates, which the receiver answers without storing
  end
  return queue[pos]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
