-- Append live events to their channels' replay buffers (infra/live.py,
-- RedisLivePublisher.publish). Atomic per call.
-- Only buffers that exist are written (XADD NOMKSTREAM): a buffer exists while a
-- client follows its channel, and for the resume window after (its TTL), so a
-- reader nobody is listening for costs no write. An id not above the buffer's
-- last one is a replay or a rebuild re-deriving an old event: Redis refuses it
-- and it is dropped here, silently. Each buffer keeps about ARGV[1] entries
-- (MAXLEN ~, trimmed by whole nodes, never below ARGV[1]).
-- KEYS[1]: the head of this group of channels (the highest position published);
-- KEYS[2..]: the buffers (streams) the events go to.
-- ARGV[1]: buffer length; ARGV[2]: the highest position among the events;
-- ARGV[3..]: quadruples (index into KEYS of the buffer, id "<position>-<seq>",
--   event name, data as JSON), in id order.
-- Returns: the number of events appended.
local added = 0
for i = 3, #ARGV, 4 do
  local key = KEYS[tonumber(ARGV[i])]
  local ok = redis.pcall('XADD', key, 'NOMKSTREAM', 'MAXLEN', '~', ARGV[1], ARGV[i + 1],
                         'e', ARGV[i + 2], 'd', ARGV[i + 3])
  if type(ok) == 'table' and ok.err then
    if not string.find(ok.err, 'equal or smaller', 1, true) then
      return redis.error_reply(ok.err)
    end
  elseif ok then
    added = added + 1
  end
end
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[2]) > head then redis.call('SET', KEYS[1], ARGV[2]) end
return added
