-- Read the counters of a trends window for many tags at once (one round trip).
-- KEYS: per tag, in order: W bucket hashes of the window (fields w, n), W bucket
--   HyperLogLogs (distinct authors), then P baseline hashes (hours or daily totals,
--   field w), the same P for every tag.
-- ARGV[1]: W; ARGV[2]: P; ARGV[3..2+P]: each baseline key's coefficient in the
--   day's baseline sum (-1, 0 or 1); ARGV[3+P..2+2P]: its coefficient in the week's.
-- Returns: per tag 7 strings: volume, first half, second half (weighted, the
--   first half being the first floor(W/2) buckets), distinct texts, distinct authors,
--   the weighted volume of the day and of the week before the window (sums, not rates).
local w, p = tonumber(ARGV[1]), tonumber(ARGV[2])
local half = math.floor(w / 2)
local per = 2 * w + p
local out = {}
local function num(v)
  return tonumber(v or '0') or 0
end
local function str(x)
  return string.format('%.17g', x)
end
for t = 0, #KEYS / per - 1 do
  local base = t * per
  local volume, first, second, posts = 0, 0, 0, 0
  for b = 1, w do
    local got = redis.call('HMGET', KEYS[base + b], 'w', 'n')
    local weight = num(got[1])
    volume = volume + weight
    if b <= half then
      first = first + weight
    else
      second = second + weight
    end
    posts = posts + num(got[2])
  end
  local hlls = {}
  for b = 1, w do
    hlls[b] = KEYS[base + w + b]
  end
  local authors = redis.call('PFCOUNT', unpack(hlls))
  local day, week = 0, 0
  for j = 1, p do
    local cd, cw = tonumber(ARGV[2 + j]), tonumber(ARGV[2 + p + j])
    if cd ~= 0 or cw ~= 0 then
      local v = num(redis.call('HGET', KEYS[base + 2 * w + j], 'w'))
      day = day + cd * v
      week = week + cw * v
    end
  end
  local i = #out
  out[i + 1] = str(volume)
  out[i + 2] = str(first)
  out[i + 3] = str(second)
  out[i + 4] = str(posts)
  out[i + 5] = str(authors)
  out[i + 6] = str(day)
  out[i + 7] = str(week)
end
return out
