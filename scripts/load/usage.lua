-- wrk script: POST /v1/usage with a batch of 5 records (Anthropic usage objects).
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '[' ..
  string.rep('{"prompt": "cline-hermes-4", "provider": "anthropic", "usage": {"input_tokens": 3, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}},', 4) ..
  '{"prompt": "cline-hermes-4", "provider": "anthropic", "usage": {"input_tokens": 3, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}}]'

-- 2xx answers = requests - errors.status (non-2xx); the script adds no per-response hook,
-- which would slow wrk down.
done = function(summary, latency, requests)
  io.write(string.format("LOADRESULT requests=%d errors_status=%d errors_connect=%d errors_timeout=%d p50_ms=%.2f p99_ms=%.2f rps=%.0f\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
