-- Create a post's counts hash only if it is missing, so a reader filling the
-- cache never overwrites newer counts written by the projector (used by
-- infra/post_cache.py, RedisPostCache).
-- KEYS[1]: the post's counts hash.
-- ARGV[1]: time to live, seconds. ARGV[2..]: field, value, field, value, ...
-- Returns: 1.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2))
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return 1
