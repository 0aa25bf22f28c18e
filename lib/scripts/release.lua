-- Compare-and-delete of one lock's keys: each is deleted only while it still holds our token,
-- so a late release never removes another owner's lock. Returns 1 when any was deleted, 0
-- when none was ours (gone already); a key of another type is not ours.
-- A lease's release is published on each key's channel, for the waiters of other clients,
-- with how many clients listen there: their waiters spread their next attempts over that many
-- slots, so that one of them takes the lock and tells the others before most of them tried
-- (acquire.lua). Nobody listening: nothing published. The clean-up of a lost attempt
-- ("quiet") publishes nothing: the lock it leaves is someone else's, and waking the waiters
-- for it (the cleaner included) would only loop. pcall: a user whose ACL allows neither
-- still releases.
-- KEYS = the lock keys, ARGV[1] = token, ARGV[2] = "quiet" for a clean-up (optional)
-- get(): prelude.lua
local deleted = 0
for i = 1, #KEYS do
  if get(KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    deleted = 1
    if ARGV[2] ~= 'quiet' then
      local listening = redis.pcall('PUBSUB', 'NUMSUB', KEYS[i])
      local count = 1  -- unknown (PUBSUB not allowed): publish for one
      if type(listening) == 'table' and listening.err == nil then
        count = tonumber(listening[2]) or 0
      end
      if count > 0 then redis.pcall('PUBLISH', KEYS[i], 'released ' .. count) end
    end
  end
end
return deleted
