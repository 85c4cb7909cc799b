-- GCRA rate limiting over all KEYS, all or nothing (used by
-- infra/rate_limiter.py, RateLimiter). A bucket stores its "theoretical
-- arrival time" (TAT) in microseconds; time is Redis's own (TIME).
-- KEYS: the buckets to check (and charge) together.
-- ARGV[1]: '1' charges one unit to every bucket if all allow, '0' only looks.
-- ARGV[2i], ARGV[2i+1]: limit and window (microseconds) of KEYS[i].
-- Returns: per key, {allowed (1/0), remaining, reset_us, retry_us}; integers
-- only, exact below 2^53.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local charge = ARGV[1] == '1'
local buckets, all_allowed = {}, true
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local interval = math.max(math.floor(tonumber(ARGV[2 * i + 1]) / limit), 1)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local b = {interval = interval, tolerance = interval * (limit - 1), backlog = tat - now}
  b.allowed = b.backlog <= b.tolerance
  if not b.allowed then all_allowed = false end
  buckets[i] = b
end
local out = {}
for i, key in ipairs(KEYS) do
  local b = buckets[i]
  local after, remaining, retry = b.backlog, 0, 0
  if charge and all_allowed then
    after = b.backlog + b.interval
    redis.call('SET', key, string.format('%.0f', now + after),
               'PX', math.floor(after / 1000) + 1)
  end
  if b.allowed then
    remaining = math.max(0, math.floor((b.tolerance - after) / b.interval) + 1)
  else
    retry = b.backlog - b.tolerance
  end
  out[i] = {b.allowed and 1 or 0, remaining, after, retry}
end
return out
