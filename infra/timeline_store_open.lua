-- A home read's first reads in one call (used by infra/timeline_store.py,
-- RedisTimelineStore.queue_open_home): keep the reader's timeline alive, find
-- the celebrities the reader follows, and read the newest items below a bound
-- of the timeline and of each of those celebrities' authored items.
-- KEYS[1]: the reader's timeline (home), KEYS[2]: its index of originals
-- (homeidx), KEYS[3]: the celebrities set, KEYS[4]: the reader's following set.
-- ARGV[1]: seconds to keep the timeline; ARGV[2], ARGV[3]: the upper and lower
-- lex bounds of ZRANGE ... BYLEX REV ('+' or '(<member>', '(<kept-marker>');
-- ARGV[4]: items per source; ARGV[5], ARGV[6]: celebrity c's authored key is
-- ARGV[5] .. c .. ARGV[6]. It assumes one Redis, not Redis Cluster: the
-- celebrities set and the authored keys (built here, not passed) are in other
-- slots; on a cluster RedisTimelineStore.open_home reads apart (open_rest).
-- Returns: {0, celebrities} when the timeline did not exist (nothing read),
-- else {1, celebrities, followed celebrities (in SMEMBERS order), the
-- timeline's items, then each followed celebrity's items}.
local kept = redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
local celebrities = redis.call('SMEMBERS', KEYS[3])
if kept == 0 then
  return {0, celebrities}
end
local followed = {}
for _, c in ipairs(celebrities) do
  if redis.call('SISMEMBER', KEYS[4], c) == 1 then
    followed[#followed + 1] = c
  end
end
local out = {1, celebrities, followed,
             redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'BYLEX', 'REV', 'LIMIT', 0, ARGV[4])}
for _, c in ipairs(followed) do
  out[#out + 1] = redis.call('ZRANGE', ARGV[5] .. c .. ARGV[6], ARGV[2], ARGV[3],
                             'BYLEX', 'REV', 'LIMIT', 0, ARGV[4])
end
return out
