-- Add members to a set one by one (used by infra/timeline_store.py,
-- RedisTimelineStore.add_follows, for follower sets); one key, so Cluster-safe.
-- KEYS[1]: the set. ARGV: the members, in order.
-- Returns: the set's size after each addition, one per member.
local counts = {}
for i, member in ipairs(ARGV) do
  redis.call('SADD', KEYS[1], member)
  counts[i] = redis.call('SCARD', KEYS[1])
end
return counts
