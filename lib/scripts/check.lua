-- Ownership check of one lock's keys: the smallest remaining ttl among them while every key
-- still holds our token. Returns that PTTL (>= 0 ms, or -1: none expires), -2 when any key is
-- not ours.
-- KEYS = the lock keys, ARGV[1] = token
-- get(): prelude.lua
local least = -1
for i = 1, #KEYS do
  if get(KEYS[i]) ~= ARGV[1] then return -2 end
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl >= 0 and (least == -1 or ttl < least) then least = ttl end
end
return least
