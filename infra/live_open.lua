-- Open a subscription to one or more channels' buffers, in one atomic step
-- (infra/live.py, RedisLiveHub.subscribe).
-- A missing buffer is created holding only a marker entry "<head>-<2^64-1>"
-- (field m): every event published from then on sorts after it, and a resume
-- id below it is too old for this buffer (events may have been published while
-- it was absent). Each buffer's TTL is set to ARGV[1] seconds.
-- A resume id can be resumed when its position is not beyond the head and every
-- buffer still holds an entry at or below it (buffers lose only their oldest
-- entries, so nothing after it is gone).
-- KEYS[1]: the head of the channels' group (highest position published; on a Redis
--   Cluster the group's head in the buffers' slot); KEYS[2..]: the buffers.
-- ARGV[1]: TTL in seconds; ARGV[2]: the resume id "<position>-<seq>", or '';
-- ARGV[3]: a head read before (the group's over every slot, on a Redis Cluster), or '':
--   the marker is at the higher of the two heads.
-- Returns: {1 if resumable else 0, {each buffer's last id},
--           {each buffer's entries after the resume id} (only when resumable)}.
local head = redis.call('GET', KEYS[1]) or '0'
if ARGV[3] and ARGV[3] ~= '' and tonumber(ARGV[3]) > tonumber(head) then head = ARGV[3] end
local resume = ARGV[2]
local resumable = 1
if resume == '' then resumable = 0 end
-- an id from beyond the head was never published here (a client of another store, or
-- of this one before its Redis was emptied): nothing after it would ever come
if resumable == 1 and tonumber(string.match(resume, '^(%d+)')) > tonumber(head) then
  resumable = 0
end
local lasts = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  if redis.call('EXISTS', key) == 0 then
    redis.call('XADD', key, head .. '-18446744073709551615', 'm', '1')
  end
  redis.call('EXPIRE', key, ARGV[1])
  lasts[#lasts + 1] = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1][1]
  if resumable == 1 and #redis.call('XRANGE', key, '-', resume, 'COUNT', 1) == 0 then
    resumable = 0
  end
end
local entries = {}
if resumable == 1 then
  for i = 2, #KEYS do
    entries[#entries + 1] = redis.call('XRANGE', KEYS[i], '(' .. resume, '+')
  end
end
return {resumable, lasts, entries}
