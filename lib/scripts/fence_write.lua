-- Fence write-back: stores max(stored, fence) as the fence of each of the lock's resources,
-- only while every lock key still holds our token. Its 1 proves that the next owner's fenced
-- acquire of any of these resources on this node, which needs the key gone, runs after this
-- write. Returns 1 when written, 0 when a key of ours is not there.
-- KEYS[1..n] = the lock keys, KEYS[n+1] = fence hash (the key prefix itself)
-- ARGV[1] = token, ARGV[1+i] = resource i (its hash field),
-- ARGV[n+2] = fence (decimal, no leading 0)
-- get() and less(): prelude.lua
local n = #KEYS - 1
local hash = KEYS[n + 1]
local fence = ARGV[n + 2]
for i = 1, n do
  if get(KEYS[i]) ~= ARGV[1] then return 0 end
end
for i = 1, n do
  local stored = redis.call('HGET', hash, ARGV[1 + i]) or '0'
  if less(stored, fence) then redis.call('HSET', hash, ARGV[1 + i], fence) end
end
return 1
