-- Delete a key only if it still holds our token: releases a lease (infra/lease.py,
-- RedisLease) or drops an Idempotency-Key reservation so a retry can run
-- (infra/http/idempotency.py), never another holder's.
-- KEYS[1]: the key. ARGV[1]: the holder's token (the value we set).
-- Returns: 1 if deleted, 0 if another holder (or nobody) has it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
