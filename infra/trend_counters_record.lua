-- Count a batch of hashtag uses, apply its suspensions and record the projector's
-- position, atomically.
-- KEYS[1]: the position key; KEYS[2]: the suspended accounts' hash (account id ->
--   position of its last suspension, or minus that of its lifting); then 8 keys per
--   use: fine-bucket hash, hour hash, fine-bucket HyperLogLog, hour HyperLogLog,
--   fine-bucket tags zset, hour tags zset, the tag's set of texts seen that day, the
--   tag's daily-total hash of that day.
-- ARGV[1]: the batch's first position; ARGV[2]: its last ('' = a replay: no position
--   check, no position written); ARGV[3..7]: TTLs (s) of fine keys, hour hashes,
--   hour HyperLogLogs and tag sets, seen-texts sets, daily totals; ARGV[8]: the number
--   n of suspensions, then 2 per suspension: account id, signed position (each set
--   only when newer than the stored one); then 4 per use: tag, text key, author id,
--   weight.
-- A use counts only when its text is new for the tag and day (SADD), and then in
-- every grain at once: a day's total is always the sum of its hours, whatever is
-- replayed or redelivered.
-- Returns: 0 when the position is already at or past the first position (nothing
-- counted: the batch was counted before), else 1.
local first, upto = tonumber(ARGV[1]), ARGV[2]
if upto ~= '' then
  local at = tonumber(redis.call('GET', KEYS[1]) or '0')
  if at >= first then
    return 0
  end
end
local fine_ttl, hour_hash_ttl, hour_ttl, seen_ttl, day_ttl =
  ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]

local changes = tonumber(ARGV[8])
for c = 0, changes - 1 do
  local account, signed = ARGV[9 + c * 2], ARGV[10 + c * 2]
  local held = tonumber(redis.call('HGET', KEYS[2], account) or '0')
  if math.abs(tonumber(signed)) > math.abs(held) then
    redis.call('HSET', KEYS[2], account, signed)  -- the text as given: no float format
  end
end

local uses_at = 9 + changes * 2
for i = 0, (#KEYS - 2) / 8 - 1 do
  local k = 2 + i * 8
  local a = uses_at + i * 4
  local tag, text, author, weight = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  if redis.call('SADD', KEYS[k + 7], text) == 1 then
    redis.call('EXPIRE', KEYS[k + 7], seen_ttl)
    redis.call('HINCRBYFLOAT', KEYS[k + 8], 'w', weight)
    redis.call('EXPIRE', KEYS[k + 8], day_ttl)

    for g = 0, 1 do
      local hash, hll, tags = KEYS[k + 1 + g], KEYS[k + 3 + g], KEYS[k + 5 + g]
      redis.call('HINCRBYFLOAT', hash, 'w', weight)
      redis.call('HINCRBY', hash, 'n', 1)
      redis.call('PFADD', hll, author)
      redis.call('ZINCRBY', tags, weight, tag)
      if g == 0 then
        redis.call('EXPIRE', hash, fine_ttl)
        redis.call('EXPIRE', hll, fine_ttl)
        redis.call('EXPIRE', tags, fine_ttl)
      else
        redis.call('EXPIRE', hash, hour_hash_ttl)
        redis.call('EXPIRE', hll, hour_ttl)
        redis.call('EXPIRE', tags, hour_ttl)
      end
    end
  end
end
if upto ~= '' then
  redis.call('SET', KEYS[1], upto)
end
return 1
