-- Ownership check: the key's remaining ttl while it still holds our token.
-- Returns PTTL (>= 0 ms, or -1: no expiry) when the key is ours, -2 when it is not.
-- KEYS[1] = lock key, ARGV[1] = token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PTTL', KEYS[1])
end
return -2
