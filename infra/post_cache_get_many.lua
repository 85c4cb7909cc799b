-- Posts' cached bodies and counts in one call (used by infra/post_cache.py,
-- RedisPostCache.get_many): one reply instead of a GET and an HMGET per post,
-- which on a page of 20 cost the client more than Redis (each reply parsed
-- under its own timeout by redis-py).
-- KEYS: for each post, its body (post:{id}) then its counts hash
-- (postcounts:{id}); on a Redis Cluster one call per hash slot.
-- ARGV[i] (i = 1 .. #KEYS / 2): '1' when post i's body is wanted, else '0';
-- then the count fields to read.
-- Returns: for each post, its body (nil when not wanted or not cached) then
-- the values of the count fields (nil where missing).
local posts = #KEYS / 2
local fields = {}
for i = posts + 1, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
local found = {}
for i = 1, posts do
  local body = false
  if ARGV[i] == '1' then
    body = redis.call('GET', KEYS[2 * i - 1])
  end
  found[#found + 1] = body
  local counts = redis.call('HMGET', KEYS[2 * i], unpack(fields))
  for j = 1, #fields do
    found[#found + 1] = counts[j]
  end
end
return found
