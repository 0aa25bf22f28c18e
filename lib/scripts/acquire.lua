-- The acquire of a client that waits by notification: SET NX PX, and when it took the key, a
-- notice on the key's channel, so that the other waiters woken by the last release, still in
-- their short random delay, go back to waiting instead of all sending a round that must fail
-- (pcall: a user whose ACL does not allow PUBLISH still acquires). Returns 1 when set, 0 when
-- another owner's key is there.
-- KEYS[1] = lock key, ARGV[1] = token, ARGV[2] = ttl in ms
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.pcall('PUBLISH', KEYS[1], 'taken')
  return 1
end
return 0
