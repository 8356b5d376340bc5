-- wrk script for the Clove benchmark: POSTs a realistic small Messages request.
--   wrk -t1 -c64 -d10s -s bench/wrk_messages.lua http://127.0.0.1:PORT/v1/messages -- json|sse CLIENT_KEY
-- At the end it prints one machine-readable line:
--   WRKRESULT requests=.. duration_us=.. bytes=.. err_connect=.. err_read=.. err_write=..
--             err_status=.. err_timeout=.. p50_us=.. p90_us=.. p99_us=.. max_us=.. mean_us=..
-- (err_status counts responses with status > 399, as wrk defines it.)

local body_json = '{"model":"claude-sonnet-4-5","max_tokens":1024,"temperature":0.7,'
  .. '"system":"You are a concise assistant. Answer in plain prose.",'
  .. '"messages":[{"role":"user","content":"Explain in two sentences what a reverse proxy does '
  .. 'and why upstream keep-alive matters for latency."}],'
  .. '"metadata":{"user_id":"bench-user-0001"}}'

local body_sse = '{"model":"claude-sonnet-4-5","max_tokens":1024,"temperature":0.7,"stream":true,'
  .. '"system":"You are a concise assistant. Answer in plain prose.",'
  .. '"messages":[{"role":"user","content":"Explain in two sentences what a reverse proxy does '
  .. 'and why upstream keep-alive matters for latency."}],'
  .. '"metadata":{"user_id":"bench-user-0001"}}'

function init(args)
  local mode = args[1] or "json"
  local key = args[2] or "ck-bench-0001"
  wrk.method = "POST"
  wrk.headers["content-type"] = "application/json"
  wrk.headers["accept"] = "application/json"
  wrk.headers["anthropic-version"] = "2023-06-01"
  wrk.headers["user-agent"] = "clove-bench/1 (wrk)"
  wrk.headers["x-api-key"] = key
  if mode == "sse" then
    wrk.body = body_sse
  elseif mode == "json" then
    wrk.body = body_json
  else
    error("mode must be json or sse, got " .. tostring(mode))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d err_write=%d " ..
    "err_status=%d err_timeout=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
