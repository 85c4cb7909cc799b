-- Extend a lease only if we still hold it (used by infra/lease.py, RedisLease).
-- KEYS[1]: the lease key. ARGV[1]: the holder's token. ARGV[2]: new TTL, ms.
-- Returns: 1 if renewed, 0 if another holder (or nobody) has it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
