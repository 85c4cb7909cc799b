-- The read-model projector's facts in one call (used by infra/page_facts.py,
-- RedisFactsCache.set_facts), instead of a command per fact: absolute values,
-- written whatever is there. Each string (an account, a repost) is SET with a
-- time to live; each reader's hash gets its fields (HSET), a time to live if it
-- has none (EXPIRE NX: made by this write), and at least that long from now
-- (EXPIRE GT), so a reader's fill racing this write cannot find the hash
-- expired and set a stale value in a new one.
-- KEYS: the string keys, then the readers' hashes (on a Redis Cluster, keys of
-- one hash slot per call).
-- ARGV[1]: the strings' time to live, seconds; ARGV[2]: the hashes', seconds;
-- ARGV[3]: how many of KEYS are strings (n); ARGV[4..3+n]: their values, in
-- the order of KEYS; then, for each hash in the order of KEYS, its number of
-- fields f, then f field, value pairs.
-- Returns: the number of keys written.
local strings = tonumber(ARGV[3])
for i = 1, strings do
  redis.call('SET', KEYS[i], ARGV[3 + i], 'EX', ARGV[1])
end
local at = 4 + strings
for k = strings + 1, #KEYS do
  local fields = tonumber(ARGV[at])
  for i = at + 1, at + 2 * fields, 2 do
    redis.call('HSET', KEYS[k], ARGV[i], ARGV[i + 1])
  end
  redis.call('EXPIRE', KEYS[k], ARGV[2], 'NX')
  redis.call('EXPIRE', KEYS[k], ARGV[2], 'GT')
  at = at + 1 + 2 * fields
end
return #KEYS
