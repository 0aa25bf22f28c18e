-- Compare-and-PEXPIRE of one lock's keys, all or nothing: a new ttl for every key only while
-- every key still holds our token. A key that is gone stays gone (PEXPIRE never creates one),
-- and the others keep their ttl. Returns 1 when extended, 0 when any key is not ours.
-- KEYS = the lock keys, ARGV[1] = token, ARGV[2] = ttl in milliseconds
-- get(): prelude.lua
for i = 1, #KEYS do
  if get(KEYS[i]) ~= ARGV[1] then return 0 end
end
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
