-- Fenced acquire, all or nothing: the lock's keys set (as acquire.lua) and the resources'
-- stored fences read in the same script, so a grant here is ordered after every fence
-- write-back this node acknowledged before it. Returns {the largest stored fence among the
-- resources as a decimal string ("0": none yet), the seeded mark} when every key was set (the
-- client counts the grant only when the mark names the server that answered: fence_mark() in
-- fence_seeder.hpp, since a script has no cheap way to know its server), {-i, token} when
-- KEYS[i] is another owner's (as acquire.lua). Everything that can fail runs before the SETs (and a SET failing halfway
-- is undone), so an error reply means that no key of ours is left.
-- A hash without its seeded mark (the field '', which no resource can be) may have lost
-- numbers this node acknowledged (a new server, or one restarted without its data): the
-- script then answers the UNSEEDED error, sets nothing, and the client seeds the node from the
-- others (fence_seed.lua) before its fenced acquires count again.
-- KEYS[1..n] = the lock keys, KEYS[n+1] = fence hash (the key prefix itself)
-- ARGV[1] = token, ARGV[2] = ttl in milliseconds, ARGV[2+i] = resource i (its hash field)
-- first_taken(), set_all() and less(): prelude.lua
local n = #KEYS - 1
local hash = KEYS[n + 1]
local mark = redis.call('HGET', hash, '')
if not mark then
  return redis.error_reply('UNSEEDED redlock: this server has no mark that it still holds ' ..
                           'every fencing number it acknowledged (a new server, or one that ' ..
                           'lost its data); it is seeded from the other nodes first')
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
local held, owner = first_taken(n)
if held then return {-held, owner} end
local failed = set_all(n, ARGV[1], ARGV[2])
if failed then return failed end
return {highest, mark}
