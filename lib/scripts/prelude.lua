-- The prelude of every script (CMakeLists.txt puts it in front of each one before taking its
-- SHA-1): the helpers several scripts share, since a Redis script cannot load another.

-- GET that reads a key of another type as not ours (false), and stops the script on any
-- other error (a command the user's ACL denies), so that a refusal is never read as "gone".
local function get(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'table' and value.err and not string.find(value.err, 'WRONGTYPE', 1, true) then
    error(value)
  end
  return type(value) == 'string' and value
end

-- Whether a key is there, of any type (GET says WRONGTYPE); other errors stop the script, as
-- in get(), so that a refusal is never read as "held".
local function taken(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'table' and value.err then
    if string.find(value.err, 'WRONGTYPE', 1, true) then return true end
    error(value)
  end
  return value ~= false
end

-- a < b for decimal numbers without leading zeros (fences): digits compared byte by byte,
-- since Lua's `<` on strings follows the server's locale.
local function less(a, b)
  if #a ~= #b then return #a < #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return false
end

-- For the acquires: the first of KEYS[1..n] that is there (see taken()) and its owner's token
-- ('' for a key of another type), or nil.
local function first_taken(n)
  for i = 1, n do
    if taken(KEYS[i]) then return i, get(KEYS[i]) or '' end
  end
end

-- For the acquires: SETs KEYS[1..n] to `token` for `ttl` ms. A SET that fails halfway (out
-- of memory) is undone, the keys set before it deleted, so that an error means no key of ours
-- is left: returns that error, or nil when every key was set.
local function set_all(n, token, ttl)
  for i = 1, n do
    local set = redis.pcall('SET', KEYS[i], token, 'PX', ttl)
    if type(set) == 'table' and set.err then
      for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
      return set
    end
  end
end

