-- Compare-and-delete: delete the lock key only while it still holds our token, so a late
-- release never removes another owner's lock. Returns 1 when deleted, 0 otherwise.
-- KEYS[1] = lock key, ARGV[1] = token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
