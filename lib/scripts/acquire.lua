-- All-or-nothing acquire of one lock's keys, for a lock on several resources (acquire_all) and
-- for a waiter's acquire: when any of the keys is there (another owner's), nothing is written.
-- With "tell", a notice ("taken <teller>") goes out on each key's channel once they are set,
-- so that the other waiters woken by the last release, still in their short random delay, go
-- back to waiting instead of all sending a round that must fail; the teller names the waiter,
-- which ignores its own notice (pcall: a user whose ACL does not allow PUBLISH still acquires).
-- Returns 1 when every key was set, {-i, token} when KEYS[i] is another owner's (the first such
-- key; token is that owner's, '' for a key of another type).
-- A SET that fails halfway (out of memory) is undone before its error is returned, so an
-- error reply means that no key of ours is left.
-- KEYS = the lock keys, ARGV[1] = token, ARGV[2] = ttl in ms, ARGV[3] = "tell" (optional),
-- ARGV[4] = teller (with "tell")
-- first_taken() and set_all(): prelude.lua
local held, owner = first_taken(#KEYS)
if held then return {-held, owner} end
local failed = set_all(#KEYS, ARGV[1], ARGV[2])
if failed then return failed end
if ARGV[3] == 'tell' then
  for i = 1, #KEYS do redis.pcall('PUBLISH', KEYS[i], 'taken ' .. (ARGV[4] or '')) end
end
return 1
