-- Fence write-back: stores max(stored, ARGV[3]) as the resource's fence, only while the lock
-- key still holds our token. Its 1 proves that the next owner's fenced SET NX on this node,
-- which needs the key gone, runs after this write. Returns 1 when written, 0 when our key is
-- not there.
-- KEYS[1] = lock key, KEYS[2] = fence hash (the key prefix itself)
-- ARGV[1] = token, ARGV[2] = resource (the hash field), ARGV[3] = fence (decimal, no leading 0)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local stored = redis.call('HGET', KEYS[2], ARGV[2]) or '0'
-- Digits compared byte by byte: Lua's `<` on strings follows the server's locale.
local less = #stored < #ARGV[3]
if #stored == #ARGV[3] then
  for i = 1, #stored do
    local a, b = string.byte(stored, i), string.byte(ARGV[3], i)
    if a ~= b then
      less = a < b
      break
    end
  end
end
if less then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
end
return 1
