-- Set each field of a hash only where it is absent, so a reader filling the
-- facts cache never overwrites a newer value written by the read-model
-- projector (used by infra/page_facts.py, RedisFactsCache.fill). The hash
-- gets a time to live only if it has none: it goes a fixed time after it was
-- made, whatever is added to it meanwhile.
-- KEYS[1]: the reader's facts hash.
-- ARGV[1]: time to live, seconds. ARGV[2..]: field, value, field, value, ...
-- Returns: 1.
for i = 2, #ARGV, 2 do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
return 1
