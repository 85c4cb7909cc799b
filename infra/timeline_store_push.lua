-- Push items into home timelines, atomically and idempotently (used by
-- infra/timeline_store.py, RedisTimelineStore.push / .push_each).
-- Each original post is shown at most once, by its oldest item: the post
-- itself, else its earliest repost. A newer item for a post already shown is
-- skipped; an older one takes its place. Then each timeline is trimmed to
-- ARGV[1] items, oldest first, and index entries of trimmed items dropped.
-- KEYS: pairs per reader: KEYS[r] the home timeline (sorted set, all scores 0,
--   members ordered by id), KEYS[r+1] its index of originals (hash: original
--   member -> member shown for it).
-- ARGV[1]: maximum items per timeline.
-- ARGV[2]: '1' to push only into timelines that exist (kept), else '0'.
-- ARGV[3..]: pairs (member, original member or '' for a post shown as itself).
-- Returns: the number of (timeline, item) writes made, summed over readers.
local max = tonumber(ARGV[1])
local added = 0
for r = 1, #KEYS, 2 do
  local home, idx = KEYS[r], KEYS[r + 1]
  if ARGV[2] ~= '1' or redis.call('EXISTS', home) == 1 then
    for i = 3, #ARGV, 2 do
      local m, orig = ARGV[i], ARGV[i + 1]
      local key = orig
      if key == '' then key = m end
      local skip = false
      if orig ~= '' and redis.call('ZSCORE', home, orig) then
        skip = true
      else
        local shown = redis.call('HGET', idx, key)
        if shown and redis.call('ZSCORE', home, shown) then
          if shown <= m then skip = true else redis.call('ZREM', home, shown) end
        end
      end
      if not skip then
        redis.call('ZADD', home, 0, m)
        if orig ~= '' then redis.call('HSET', idx, key, m) else redis.call('HDEL', idx, key) end
        added = added + 1
      end
    end
    local n = redis.call('ZCARD', home)
    if n > max then
      local old = redis.call('ZRANGE', home, 0, n - max - 1)
      redis.call('ZREMRANGEBYRANK', home, 0, n - max - 1)
      for _, m in ipairs(old) do
        local sep = string.find(m, ':', 1, true)
        if sep then
          local orig = string.sub(m, sep + 1)
          if redis.call('HGET', idx, orig) == m then redis.call('HDEL', idx, orig) end
        end
      end
    end
  end
end
return added
