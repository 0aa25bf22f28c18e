-- Batched compare-and-PEXPIRE: the automatic extensions of many leases due together, in one
-- call per node. For each key, a new ttl only while it still holds that lease's token; a key
-- that is gone stays gone. get() (prelude.lua): a key of another type answers 0 for that key
-- instead of aborting the script halfway (which would leave the earlier PEXPIREs run,
-- unreported); any other error (a command the user's ACL denies) stops the script with the
-- server's words, so that a refusal is never read as "not ours" (the engine then counts every
-- lease of the batch as failed on this node, and as possibly extended).
-- KEYS[i] = lock key i, ARGV[2i-1] = its token, ARGV[2i] = its ttl in milliseconds.
-- Returns an array with one integer per key: 1 when extended, 0 when not ours.
local out = {}
for i = 1, #KEYS do
  if get(KEYS[i]) == ARGV[2 * i - 1] then
    out[i] = redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
  else
    out[i] = 0
  end
end
return out
