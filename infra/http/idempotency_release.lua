-- Drop our reservation of an Idempotency-Key so a retry can run, only if it
-- is still ours (used by infra/http/idempotency.py).
-- KEYS[1]: the idempotency key. ARGV[1]: our reservation token.
-- Returns: 1 if deleted, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
