-- Fenced acquire: SET NX PX, and the resource's stored fence read in the same script, so a
-- grant here is ordered after every fence write-back this node acknowledged before it.
-- Returns the stored fence as a decimal string ("0": none yet) when the lock was set, nil
-- when another owner's key is there. Everything that can fail runs before the SET, so an
-- error reply means nothing was written.
-- KEYS[1] = lock key, KEYS[2] = fence hash (the key prefix itself)
-- ARGV[1] = token, ARGV[2] = ttl in milliseconds, ARGV[3] = resource (the hash field)
local stored = redis.call('HGET', KEYS[2], ARGV[3]) or '0'
-- Digits compared byte by byte: Lua's `<` on strings follows the server's locale.
local max = '18446744073709551615'
local fits = #stored < #max
if #stored == #max then
  fits = true
  for i = 1, #max do
    local a, b = string.byte(stored, i), string.byte(max, i)
    if a ~= b then
      fits = a < b
      break
    end
  end
end
if not (stored == '0' or string.match(stored, '^[1-9]%d*$')) or not fits then
  return redis.error_reply('ERR redlock: the stored fence is not a 64-bit number: ' ..
                           string.sub(stored, 1, 40))
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return stored
end
return false
