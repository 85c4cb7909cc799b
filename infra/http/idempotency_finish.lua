-- Store a finished request's record under its Idempotency-Key, only if our
-- reservation still holds it (used by infra/http/idempotency.py).
-- KEYS[1]: the idempotency key. ARGV[1]: our reservation token.
-- ARGV[2]: the record to store. ARGV[3]: its TTL, ms.
-- Returns: OK if stored, false (nil) if the reservation was lost.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return false
