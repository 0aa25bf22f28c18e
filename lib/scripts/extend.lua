-- Compare-and-PEXPIRE: give the lock key a new ttl only while it still holds our token.
-- A key that is gone stays gone (PEXPIRE never creates one). Returns 1 when extended.
-- KEYS[1] = lock key, ARGV[1] = token, ARGV[2] = ttl in milliseconds
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
