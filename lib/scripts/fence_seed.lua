-- Fence seeding (fence_seeder.hpp): stores, for each resource, max(stored, the highest number
-- the client read from the other nodes), then sets the seeded mark (the field '', which no
-- resource can be), so that this node's fenced acquires count again. Only on the server the
-- seeding was meant for: a server that restarted or was promoted since (another mark) may
-- have lost numbers it acknowledged after the client's read, and stays unseeded.
-- A large hash goes in several calls (each short, so that none holds the server past the
-- node timeout); only the last one sets the mark.
-- KEYS[1] = fence hash (the key prefix itself)
-- ARGV[1] = the seeded mark: the server's run_id and master_replid, as fence_mark() in
-- fence_seeder.hpp writes them; ARGV[2] = 'mark' in the last call ('more' before it), then
-- pairs: ARGV[2k+1] = resource, ARGV[2k+2] = its fence
-- Returns 1 when written, 0 when the server is another one.
-- less(): prelude.lua
local hash = KEYS[1]
local info = redis.call('INFO')
local this = (string.match(info, 'run_id:(%x+)') or '') .. '/' ..
             (string.match(info, 'master_replid:(%x+)') or '')
if this ~= ARGV[1] then return 0 end
for i = 3, #ARGV - 1, 2 do
  local stored = redis.call('HGET', hash, ARGV[i]) or '0'
  if less(stored, ARGV[i + 1]) then redis.call('HSET', hash, ARGV[i], ARGV[i + 1]) end
end
if ARGV[2] == 'mark' then redis.call('HSET', hash, '', ARGV[1]) end
return 1
