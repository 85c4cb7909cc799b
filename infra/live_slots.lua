-- Take or keep one of an account's concurrent-stream slots (infra/live.py,
-- RedisStreamSlots). Uses Redis's clock, so API processes agree.
-- KEYS[1]: the account's slots (sorted set: connection id -> lease end, ms).
-- ARGV[1]: connection id; ARGV[2]: the most slots an account may hold;
-- ARGV[3]: lease length in ms.
-- Returns: 0 when the slot is held (taken now or renewed), else the ms until
--   the oldest slot's lease ends (a refused connection may retry then).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and
    redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) - now)
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return 0
