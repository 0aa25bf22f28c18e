-- Compare-and-delete: delete the lock key only while it still holds our token, so a late
-- release never removes another owner's lock. Returns 1 when deleted, 0 otherwise.
-- A deletion is published on the channel named like the key, for the waiters of other
-- clients (pcall: a user whose ACL does not allow PUBLISH still releases).
-- KEYS[1] = lock key, ARGV[1] = token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.pcall('PUBLISH', KEYS[1], 'released')
  return 1
end
return 0
