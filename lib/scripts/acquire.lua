-- All-or-nothing acquire of one lock's keys, for a lock on several resources (acquire_all) and
-- for a waiter's acquire: when any of the keys is there (another owner's), nothing is written.
-- With "tell", a notice goes out on each key's channel once they are set, so that the other
-- waiters woken by the last release, still in their short random delay, go back to waiting
-- instead of all sending a round that must fail (pcall: a user whose ACL does not allow
-- PUBLISH still acquires).
-- Returns 1 when every key was set, -i when KEYS[i] is another owner's (the first such key).
-- A SET that fails halfway (out of memory) is undone before its error is returned, so an
-- error reply means that no key of ours is left.
-- KEYS = the lock keys, ARGV[1] = token, ARGV[2] = ttl in ms, ARGV[3] = "tell" (optional)

-- Whether a key is there (of any type: GET says WRONGTYPE). Any other error (a command the
-- user's ACL denies) stops the script, so that a refusal is never read as "held".
local function taken(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'table' and value.err then
    if string.find(value.err, 'WRONGTYPE', 1, true) then return true end
    error(value)
  end
  return value ~= false
end
for i = 1, #KEYS do
  if taken(KEYS[i]) then return -i end
end
for i = 1, #KEYS do
  local set = redis.pcall('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
  if type(set) == 'table' and set.err then
    for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
    return set
  end
end
if ARGV[3] == 'tell' then
  for i = 1, #KEYS do redis.pcall('PUBLISH', KEYS[i], 'taken') end
end
return 1
