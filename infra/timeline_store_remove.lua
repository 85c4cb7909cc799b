-- Remove items from home timelines (used by infra/timeline_store.py,
-- RedisTimelineStore.remove); an index entry goes only if it points at the
-- removed member.
-- KEYS: pairs per reader: home timeline (sorted set), its index of originals (hash).
-- ARGV: pairs (member, original member or '' for a post shown as itself).
-- Returns: 1.
for r = 1, #KEYS, 2 do
  local home, idx = KEYS[r], KEYS[r + 1]
  for i = 1, #ARGV, 2 do
    local m, orig = ARGV[i], ARGV[i + 1]
    redis.call('ZREM', home, m)
    if orig ~= '' and redis.call('HGET', idx, orig) == m then redis.call('HDEL', idx, orig) end
  end
end
return 1
