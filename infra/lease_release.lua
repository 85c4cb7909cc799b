-- Release a lease only if we still hold it (used by infra/lease.py, RedisLease).
-- KEYS[1]: the lease key. ARGV[1]: the holder's token.
-- Returns: 1 if deleted, 0 if another holder (or nobody) has it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
