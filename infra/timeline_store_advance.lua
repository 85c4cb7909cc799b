-- Move a projector's position forward only, never back: GET-compare-SET
-- (used by infra/timeline_store.py, RedisTimelineStore.advance).
-- KEYS[1]: the position key. ARGV[1]: the new position (integer).
-- Returns: nothing (nil).
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1]) end
