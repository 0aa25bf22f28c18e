-- Fenced acquire, all or nothing: the lock's keys set (as acquire.lua) and the resources'
-- stored fences read in the same script, so a grant here is ordered after every fence
-- write-back this node acknowledged before it. Returns the largest stored fence among the
-- resources as a decimal string ("0": none yet) when every key was set, -i when KEYS[i] is
-- another owner's. Everything that can fail runs before the SETs (and a SET failing halfway
-- is undone), so an error reply means that no key of ours is left.
-- KEYS[1..n] = the lock keys, KEYS[n+1] = fence hash (the key prefix itself)
-- ARGV[1] = token, ARGV[2] = ttl in milliseconds, ARGV[2+i] = resource i (its hash field)

-- Whether a key is there (of any type: GET says WRONGTYPE). Any other error (a command the
-- user's ACL denies) stops the script, so that a refusal is never read as "held".
local function taken(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'table' and value.err then
    if string.find(value.err, 'WRONGTYPE', 1, true) then return true end
    error(value)
  end
  return value ~= false
end
local n = #KEYS - 1
local hash = KEYS[n + 1]
-- For decimal numbers without leading zeros: digits compared byte by byte, since Lua's `<`
-- on strings follows the server's locale.
local function less(a, b)
  if #a ~= #b then return #a < #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return false
end
local highest = '0'
for i = 1, n do
  local stored = redis.call('HGET', hash, ARGV[2 + i]) or '0'
  if not (stored == '0' or string.match(stored, '^[1-9]%d*$')) or
      less('18446744073709551615', stored) then
    return redis.error_reply('ERR redlock: the stored fence is not a 64-bit number: ' ..
                             string.sub(stored, 1, 40))
  end
  if less(highest, stored) then highest = stored end
end
for i = 1, n do
  if taken(KEYS[i]) then return -i end
end
for i = 1, n do
  local set = redis.pcall('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
  if type(set) == 'table' and set.err then
    for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
    return set
  end
end
return highest
