-- Compare-and-delete: delete the lock key only while it still holds our token, so a late
-- release never removes another owner's lock. Returns 1 when deleted, 0 otherwise.
-- A lease's release is published on the channel named like the key, for the waiters of
-- other clients, with how many clients listen there: their waiters spread their next
-- attempts over that many slots, so that one of them takes the lock and tells the others
-- before most of them tried (acquire.lua). Nobody listening: nothing published. The
-- clean-up of a lost attempt ("quiet") publishes nothing: the lock it leaves is someone
-- else's, and waking the waiters for it (the cleaner included) would only loop. pcall: a
-- user whose ACL allows neither still releases.
-- KEYS[1] = lock key, ARGV[1] = token, ARGV[2] = "quiet" for a clean-up (optional)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[2] == 'quiet' then return 1 end
  local listening = redis.pcall('PUBSUB', 'NUMSUB', KEYS[1])
  local count = 1  -- unknown (PUBSUB not allowed): publish for one
  if type(listening) == 'table' and listening.err == nil then
    count = tonumber(listening[2]) or 0
  end
  if count > 0 then redis.pcall('PUBLISH', KEYS[1], 'released ' .. count) end
  return 1
end
return 0
