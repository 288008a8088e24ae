-- A strict single-pass JSON scanner for the common request: one JSON-RPC call whose members are only
-- "jsonrpc": "2.0", "id" (number, string or null), "method" (a plain string) and "params" (array or object),
-- each at most once. It only recognizes such bodies, builds no tables, and returns the method; anything else
-- (a batch, escapes in the method or a key, another member, a duplicate, deep nesting, any doubt at all)
-- returns nil and the full parser decides. So it can only send a body down the slower path, never change
-- what a body means. Strict by default (a raw control character in any string is the full parser's too);
-- a caller whose full parser is cjson alone may take them, as cjson does. Pure: tested under plain LuaJIT
-- against cjson.
local byte, find, sub = string.byte, string.find, string.sub
local ffi = require("ffi")
local bit = require("bit")
local bounded = require("ethnode.bounded")

local _M = {}

-- Nesting beyond this goes to the full parser (which has its own limit).
local MAX_DEPTH = 64

local HEX, ESCAPES = {}, {}
for c = 48, 57 do HEX[c] = true end
for c = 65, 70 do HEX[c] = true end
for c = 97, 102 do HEX[c] = true end
for _, c in ipairs({ 34, 92, 47, 98, 102, 110, 114, 116 }) do ESCAPES[c] = true end -- " \ / b f n r t
local HIGH = { [56] = true, [57] = true } -- 8 9 a-f A-F: the second hex digit of a surrogate
for c = 65, 70 do HIGH[c] = true end
for c = 97, 102 do HIGH[c] = true end

local function skip_ws(s, i)
    local c = byte(s, i)
    while c == 32 or c == 10 or c == 13 or c == 9 do
        i = i + 1
        c = byte(s, i)
    end
    return i, c
end

-- The escape-aware rest of a string, from i (just past a backslash's position, which is i). Returns the index
-- after the closing quote, or nil.
local function skip_escaped(s, i)
    while true do
        local c = byte(s, i)
        if c == nil or c < 32 then return nil end
        if c == 34 then return i + 1 end
        if c == 92 then
            local e = byte(s, i + 1)
            if e == 117 then -- \uXXXX
                local h1, h2, h3, h4 = byte(s, i + 2, i + 5)
                if not (HEX[h1] and HEX[h2] and HEX[h3] and HEX[h4]) then return nil end
                -- Surrogates (\uD800-\uDFFF): valid pairs and lone halves are the full parser's call.
                if (h1 == 100 or h1 == 68) and HIGH[h2] then return nil end
                i = i + 6
            elseif ESCAPES[e] then
                i = i + 2
            else
                return nil
            end
        else
            i = i + 1
        end
    end
end

-- The first byte from i to j that a string cannot hold raw (a control character) or that starts an escape (a
-- backslash): its index and value, or nil when there is none.
local function first_special(s, i, j)
    for k = i, j do
        local c = byte(s, k)
        if c < 32 or c == 92 then return k, c end
    end
    return nil
end

-- Whether every string of the body being scanned ends at its next quote and needs no byte check: no
-- backslash in the body, and no control character either unless the caller takes raw ones. Set by the entry
-- points for each body.
local clean = false

-- pcall: another module (lua-resty-core's) may have declared it first, and a second declaration is an error.
pcall(ffi.cdef, "int memcmp(const void *, const void *, size_t);")
local memcmp = ffi.C.memcmp

local BYTES, WORDS = ffi.typeof("const uint8_t *"), ffi.typeof("const uint64_t *")
local ONES, HIGHS = 0x0101010101010101ULL, 0x8080808080808080ULL
local SPACES, BACKSLASHES = ONES * 32, ONES * 92
local band, bor, bnot, bxor = bit.band, bit.bor, bit.bnot, bit.bxor

-- Whether s holds no byte below 32 and no backslash. Eight bytes a step: (x - 0x20..) & ~x & 0x80.. is
-- non-zero exactly when some byte of x is below 32, and the same test on x ^ 0x5c.. finds a backslash. One
-- short loop per body instead of one per string keeps the request loops free of inner loops, which LuaJIT
-- would not compile into them.
local function plain_bytes(s)
    local n = #s
    local p = ffi.cast(BYTES, s)
    local tail = n - n % 8
    for k = 0, tail - 8, 8 do
        local x = ffi.cast(WORDS, p + k)[0]
        local y = bxor(x, BACKSLASHES)
        if band(bor(band(x - SPACES, bnot(x)), band(y - ONES, bnot(y))), HIGHS) ~= 0ULL then return false end
    end
    for k = tail, n - 1 do
        local c = p[k]
        if c < 32 or c == 92 then return false end
    end
    return true
end
_M.plain_bytes = plain_bytes

-- s[i] is the opening quote. Returns the index after the closing quote and whether there were escapes.
-- The next quote is found by a plain search; the bytes before it only need checking for control characters
-- and backslashes (a backslash hands the string to the escape-aware loop), unless the whole body is clean.
local function skip_string(s, i)
    local q = find(s, '"', i + 1, true)
    if not q then return nil end
    if clean then return q + 1, false end
    local k, c = first_special(s, i + 1, q - 1)
    if not k then return q + 1, false end
    if c < 32 then return nil end
    return skip_escaped(s, k), true
end

local function is_digit(c)
    return c ~= nil and c >= 48 and c <= 57
end

-- One or more digits from i; returns the index after them and the byte there. Numbers in requests are short
-- (ids, small integers): the first digits are read without a loop, which LuaJIT compiles far better.
local function skip_digits(s, i)
    local a, b, c = byte(s, i, i + 2)
    if not is_digit(a) then return nil end
    if not is_digit(b) then return i + 1, b end
    if not is_digit(c) then return i + 2, c end
    i = i + 3
    c = byte(s, i)
    while is_digit(c) do
        i = i + 1
        c = byte(s, i)
    end
    return i, c
end

-- RFC 8259 numbers only: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
local function skip_number(s, i)
    local c = byte(s, i)
    if c == 45 then
        i = i + 1
        c = byte(s, i)
    end
    if c == 48 then
        i = i + 1
        c = byte(s, i)
    else
        i, c = skip_digits(s, i)
        if not i then return nil end
    end
    if c == 46 then
        i, c = skip_digits(s, i + 1)
        if not i then return nil end
    end
    if c == 101 or c == 69 then
        i = i + 1
        c = byte(s, i)
        if c == 43 or c == 45 then i = i + 1 end
        i = skip_digits(s, i)
    end
    return i
end

-- An id the fast path echoes safely: an integer of at most 15 digits (exact in a double). A fraction, an
-- exponent or a longer number is the full parser's (which refuses the non-finite ones).
local function skip_plain_integer(s, i)
    if byte(s, i) == 45 then i = i + 1 end
    local j, c = skip_digits(s, i)
    if not j or j - i > 15 or c == 46 or c == 101 or c == 69 or (byte(s, i) == 48 and j - i > 1) then return nil end
    return j
end

local function skip_literal(s, i, c)
    local a, b, d, e = byte(s, i + 1, i + 4)
    if c == 116 and a == 114 and b == 117 and d == 101 then return i + 4 end -- true
    if c == 110 and a == 117 and b == 108 and d == 108 then return i + 4 end -- null
    if c == 102 and a == 97 and b == 108 and d == 115 and e == 101 then return i + 5 end -- false
    return nil
end

-- The index after the string starting at i (a quote): the next quote no backslash escapes; nil if none.
local function string_end(s, i)
    while true do
        local q = find(s, '["\\]', i + 1)
        if not q then return nil end
        if byte(s, q) == 34 then return q + 1 end
        i = q + 1
    end
end

-- A member name and its colon, from i (whitespace first). Returns the index after the colon, or nil.
-- `str` skips a string: skip_string (strict, the request fast path) or string_end (any escape).
local function skip_name(s, i, str)
    local c
    i, c = skip_ws(s, i)
    if c ~= 34 then return nil end
    i = str(s, i)
    if not i then return nil end
    i, c = skip_ws(s, i)
    if c ~= 58 then return nil end
    return i + 1
end

-- One string, number or literal at i (whitespace first): the index after it, or nil (a container, or not a
-- value).
local function scalar(s, i)
    local c
    i, c = skip_ws(s, i)
    if c == 34 then return (skip_string(s, i)) end
    if c == 45 or is_digit(c) then return skip_number(s, i) end
    if c == 116 or c == 102 or c == 110 then return skip_literal(s, i, c) end
    return nil
end

-- After an array's scalar at i: the index after the closing bracket and true, or after the next scalar and
-- false; nil for anything else.
local function after_scalar(s, i)
    local c
    i, c = skip_ws(s, i)
    if c == 93 then return i + 1, true end
    if c ~= 44 then return nil end
    return scalar(s, i + 1), false
end

-- The common params, an array of at most four scalars, from its opening bracket at i: the index after it, or
-- nil for anything else (skip_value then decides). Written out without a loop, so that a batch's element loop
-- stays one compiled loop.
local function scalar_array(s, i)
    local closed
    i = scalar(s, i + 1)
    if not i then return nil end
    i, closed = after_scalar(s, i)
    if closed or not i then return i end
    i, closed = after_scalar(s, i)
    if closed or not i then return i end
    i, closed = after_scalar(s, i)
    if closed or not i then return i end
    -- After the fourth: only the bracket (a fifth scalar is skip_value's).
    i, closed = after_scalar(s, i)
    return closed and i or nil
end

-- Open containers of the value being skipped (123 = object, 91 = array). Reused: nothing here yields.
local stack = {}

-- Skips one JSON value starting at or after i; returns the index after it, or nil. Strings are skipped by
-- `str` (default skip_string, which refuses what the full parser must judge); containers nest at most
-- `max_depth` deep (default MAX_DEPTH).
local function skip_value(s, i, str, max_depth)
    str = str or skip_string
    max_depth = max_depth or MAX_DEPTH
    local depth = 0
    local c
    while true do
        -- A value is expected at i.
        i, c = skip_ws(s, i)
        if c == 123 or c == 91 then
            depth = depth + 1
            if depth > max_depth then return nil end
            stack[depth] = c
            i, c = skip_ws(s, i + 1)
            if (c == 125 and stack[depth] == 123) or (c == 93 and stack[depth] == 91) then
                -- Empty: a whole value, handled below like any other.
                i = i + 1
                depth = depth - 1
            else
                if stack[depth] == 123 then i = skip_name(s, i, str) end
                if not i then return nil end
                goto continue
            end
        elseif c == 34 then
            i = str(s, i)
        elseif c == 45 or (c and c >= 48 and c <= 57) then
            i = skip_number(s, i)
        elseif c then
            i = skip_literal(s, i, c)
        else
            return nil
        end
        if not i then return nil end
        -- After a value: separators and closing brackets.
        while true do
            if depth == 0 then return i end
            i, c = skip_ws(s, i)
            local open = stack[depth]
            if c == 44 then
                i = i + 1
                if open == 123 then
                    i = skip_name(s, i, str)
                    if not i then return nil end
                end
                break
            elseif (c == 93 and open == 91) or (c == 125 and open == 123) then
                i = i + 1
                depth = depth - 1
            else
                return nil
            end
        end
        ::continue::
    end
end

-- A string as RFC 8259 has it, from its opening quote at i: no raw control character, only the defined
-- escapes (any \uXXXX, surrogates included). Returns the index after the closing quote, or nil.
local function json_string(s, i)
    while true do
        local k = find(s, '[%z\1-\31"\\]', i + 1)
        if not k then return nil end
        local c = byte(s, k)
        if c == 34 then return k + 1 end
        if c ~= 92 then return nil end
        local e = byte(s, k + 1)
        if e == 117 then
            local h1, h2, h3, h4 = byte(s, k + 2, k + 5)
            if not (HEX[h1] and HEX[h2] and HEX[h3] and HEX[h4]) then return nil end
            i = k + 5
        elseif ESCAPES[e] then
            i = k + 1
        else
            return nil
        end
    end
end

-- The nesting cjson itself accepts.
local JSON_MAX_DEPTH = 1000

-- Whether `s` is exactly one JSON value by RFC 8259, as strict as Go's encoding/json (which Geth reads with):
-- lua-cjson also takes raw control characters in strings, and Geth ends a whole WebSocket session on a
-- message it cannot parse.
function _M.json(s)
    local e = skip_value(s, 1, json_string, JSON_MAX_DEPTH)
    return e ~= nil and skip_ws(s, e) == #s + 1
end

local JSONRPC, ID, METHOD, PARAMS = 1, 2, 3, 4

-- Method names already checked to hold no control character and no backslash (so the quote after them closes
-- them). Clients use a handful of names: the byte loop runs once per name, not on every request, which keeps
-- a loop off the request path (LuaJIT compiles loop-free code far better). Bounded: names come from clients.
local plain_names = bounded.new(1024)

local function plain_name(name)
    if plain_names:get(name) then return true end
    if first_special(name, 1, #name) then return false end
    plain_names:put(name, true)
    return true
end

-- Which of the four member names follows the quote at i, and the index of its closing quote; nil for any other
-- name. The bytes are compared where they lie: no search for the closing quote, no string made.
local function name_at(s, i)
    local a, b, c, d, e, f, g, h = byte(s, i + 1, i + 8)
    if a == 105 and b == 100 and c == 34 then return ID, i + 3 end -- id
    if g == 34 then
        if a == 109 and b == 101 and c == 116 and d == 104 and e == 111 and f == 100 then return METHOD, i + 7 end
        if a == 112 and b == 97 and c == 114 and d == 97 and e == 109 and f == 115 then return PARAMS, i + 7 end
    elseif h == 34 and a == 106 and b == 115 and c == 111 and d == 110 and e == 114 and f == 112 and g == 99 then
        return JSONRPC, i + 8
    end
    return nil
end

-- What request() has seen of the body so far. Module locals, reset for every body: the scanner never yields.
local method, has_id, version, params

-- The last method name read: a name spelled as the last one is that string again, compared in place, so the
-- usual request (the same few methods, and a batch of one method) makes no new string.
local last_method = ""

-- One member, `"name": value`, with s[i] == c its opening quote. Returns the index and the byte after the
-- value and any whitespace (a comma, the closing brace, or anything else), or nil.
local function member(s, i, c)
    if c ~= 34 then return nil end
    -- Only the four names, byte for byte: anything else (escapes included) is the full parser's.
    local key, q = name_at(s, i)
    if not key then return nil end
    i, c = skip_ws(s, q + 1)
    if c ~= 58 then return nil end
    i, c = skip_ws(s, i + 1)
    if key == METHOD then
        if method or c ~= 34 then return nil end
        -- The last name again (it holds no quote): its bytes and the closing quote right after them.
        local n = #last_method
        if n > 0 and byte(s, i + n + 1) == 34 and memcmp(ffi.cast(BYTES, s) + i, last_method, n) == 0 then
            method = last_method
            i = i + n + 2
        else
            q = find(s, '"', i + 1, true)
            n = q and q - i - 1
            if not q or n < 1 or n > 128 then return nil end
            method = sub(s, i + 1, q - 1)
            if not plain_name(method) then return nil end
            last_method = method
            i = q + 1
        end
    elseif key == JSONRPC then
        local q1, d2, dot, d0, q2 = byte(s, i, i + 4)
        if version or q1 ~= 34 or d2 ~= 50 or dot ~= 46 or d0 ~= 48 or q2 ~= 34 then return nil end
        version = true
        i = i + 5
    elseif key == ID then
        if has_id then return nil end
        has_id = true
        if c == 34 then
            i = skip_string(s, i)
        elseif c == 110 then
            i = skip_literal(s, i, c)
        else
            i = skip_plain_integer(s, i)
        end
    else -- PARAMS
        if params or (c ~= 91 and c ~= 123) then return nil end
        params = true
        -- No params (eth_blockNumber, eth_chainId, ...: the most frequent calls) need no loop.
        if byte(s, i + 1) == c + 2 then
            i = i + 2
        else
            i = c == 91 and scalar_array(s, i) or skip_value(s, i)
        end
    end
    if not i then return nil end
    return skip_ws(s, i)
end

-- The next member after a comma at i.
local function next_member(s, i)
    local c
    i, c = skip_ws(s, i + 1)
    return member(s, i, c)
end

-- One plain request object from i (whitespace first): the index after its closing brace, or nil. What it
-- read is left in the module locals (method, has_id).
local function object_at(s, i)
    method, has_id, version, params = nil, nil, nil, nil
    local c
    i, c = skip_ws(s, i)
    if c ~= 123 then return nil end
    i, c = skip_ws(s, i + 1)
    -- At most four members (four names, each at most once), written out: LuaJIT compiles the request path
    -- whole only while it has no loop.
    i, c = member(s, i, c)
    if c == 44 then i, c = next_member(s, i) end
    if c == 44 then i, c = next_member(s, i) end
    if c == 44 then i, c = next_member(s, i) end
    if c ~= 125 or not version or not method then return nil end
    return i + 1
end

-- Whether the body's strings need no byte check (see `clean`). `controls`: raw control characters in
-- strings are the caller's to accept, as its full parser (cjson) does, all but NUL; then only a backslash or a
-- NUL, found by plain searches, needs the careful path. A strict caller (Geth ends a WebSocket session on a
-- raw control character) has every byte looked at.
local function clean_body(s, controls)
    if controls then return not find(s, "\\", 1, true) and not find(s, "\0", 1, true) end
    return plain_bytes(s)
end

-- Returns the method and whether an id member is present (false: a notification) when `s` is one plain
-- request as described at the top; nil otherwise. `controls` as for clean_body.
function _M.request(s, controls)
    clean = clean_body(s, controls)
    local e = object_at(s, 1)
    -- Nothing but whitespace may follow.
    if not e or skip_ws(s, e) ~= #s + 1 then return nil end
    return method, has_id == true
end

-- A batch of plain requests, each as `request` reads one, in one pass and without cutting it up: writes the
-- methods into `out` (the caller's, reused) and returns how many; nil when `s` is not such a batch, is empty
-- or holds more than `max` (the full parser then answers). `controls` as for clean_body.
function _M.batch(s, max, out, controls)
    local i, c = skip_ws(s, 1)
    if c ~= 91 then return nil end
    clean = clean_body(s, controls)
    local n = 0
    repeat
        local e = object_at(s, i + 1)
        if not e or n == max then return nil end
        n = n + 1
        out[n] = method
        i, c = skip_ws(s, e)
    until c ~= 44
    if c ~= 93 or skip_ws(s, i + 1) ~= #s + 1 then return nil end
    return n
end

-- The exact bytes of each element of one top-level JSON array, or nil when `s` is not one plainly scannable
-- array (nesting past 64: the caller then decodes and re-encodes as before).
function _M.elements(s)
    local i, c = skip_ws(s, 1)
    if c ~= 91 then return nil end
    local out = {}
    i, c = skip_ws(s, i + 1)
    while c ~= 93 do
        local e = skip_value(s, i, string_end)
        if not e then return nil end
        out[#out + 1] = sub(s, i, e - 1)
        i, c = skip_ws(s, e)
        if c == 44 then
            i, c = skip_ws(s, i + 1)
            if c == 93 then return nil end -- a trailing comma
        elseif c ~= 93 then
            return nil
        end
    end
    if skip_ws(s, i + 1) ~= #s + 1 then return nil end
    return out
end

-- The exact bytes of a single request's top-level "id" value, so that an answer the gateway writes itself
-- echoes the id as the client wrote it. nil when there is none or the body is not plainly scannable (member
-- names with escapes, deep nesting, ...): the caller then falls back to the decoded id.
function _M.raw_id(s)
    local i, c = skip_ws(s, 1)
    if c ~= 123 then return nil end
    i, c = skip_ws(s, i + 1)
    local found
    while c == 34 do
        local q = find(s, '"', i + 1, true)
        if not q then return nil end
        local is_id = q == i + 3 and byte(s, i + 1) == 105 and byte(s, i + 2) == 100
        i, c = skip_ws(s, q + 1)
        if c ~= 58 then return nil end
        local v = skip_ws(s, i + 1)
        -- Any escape, a surrogate pair too: cjson has read this body; only the value's end is needed here.
        local e = skip_value(s, v, string_end)
        if not e then return nil end
        -- Duplicate names: the last one counts, as for cjson.
        if is_id then found = sub(s, v, e - 1) end
        i, c = skip_ws(s, e)
        if c == 125 then return skip_ws(s, i + 1) == #s + 1 and found or nil end
        if c ~= 44 then return nil end
        i, c = skip_ws(s, i + 1)
    end
    return nil
end

return _M
