-- A strict single-pass JSON scanner for the common request: one JSON-RPC call whose members are only
-- "jsonrpc": "2.0", "id" (number, string or null), "method" (a plain string) and "params" (array or object),
-- each at most once. It only recognizes such bodies, builds no tables, and returns the method; anything else
-- (a batch, escapes in the method or a key, another member, a duplicate, deep nesting, any doubt at all)
-- returns nil and the full parser decides. So it can only send a body down the slower path, never change
-- what a body means. Strict by default (a raw control character in any string is the full parser's too);
-- a caller whose full parser is cjson alone may take them, as cjson does. Pure: tested under plain LuaJIT
-- against cjson. Two scanners give these answers: a general one, and a fast one for the common layouts that
-- leaves every other body to it (the fast path, further down).
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
local band, bor, bnot, bxor = bit.band, bit.bor, bit.bnot, bit.bxor

-- A name of our own for strcspn, so that another module's declaration of it (or the lack of one) does not
-- matter; pcall: a second declaration of the same name is an error.
pcall(ffi.cdef, 'size_t ethnode_scan_strcspn(const char *, const char *) __asm__("strcspn");')
local strcspn = ffi.C.ethnode_scan_strcspn

-- The bytes a plain string cannot hold raw: a backslash and the control characters (the NUL that ends
-- strcspn's count is one of them too).
local NOT_PLAIN = "\\"
for c = 1, 31 do NOT_PLAIN = NOT_PLAIN .. string.char(c) end

-- Whether s holds no byte below 32 and no backslash: strcspn counts the bytes before the first of them, all of
-- them when there is none. A call, not a loop: LuaJIT cannot compile a loop into the trace of its caller.
local function plain_bytes(s)
    return tonumber(strcspn(s, NOT_PLAIN)) == #s
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

-- The general scanner of a request: what `request` (below) returns, whatever the body.
local function general_request(s, controls)
    clean = clean_body(s, controls)
    local e = object_at(s, 1)
    -- Nothing but whitespace may follow.
    if not e or skip_ws(s, e) ~= #s + 1 then return nil end
    return method, has_id == true
end

-- The general scanner of a batch: what `batch` (below) returns, whatever the body.
local function general_batch(s, max, out, controls)
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

-- The fast path. The two entry points below try it first and ask the general scanner above only when it
-- gives up, so it may give up on anything (a body it cannot read whole, an unusual shape, a new method name):
-- all it must get right is that what it recognizes, the general scanner recognizes the same way.
--
-- It reads the body through byte pointers: one cast per body, no string made, cut or searched per token, and
-- positions are pointers too (LuaJIT keeps them in registers as plain addresses, where Lua numbers would be
-- converted to and from floating point at every step). Reads stay within the body and its terminating NUL, at
-- `e`: a byte is read only just past bytes already matched as part of a token (a NUL matches none, so a scan
-- stops at the end as at a NUL inside), and a word of eight bytes only where the distance to `e` says they
-- are there. Member names and short strings are compared or searched a word at a time. It gives up by
-- returning nil, never a NULL pointer (cdata, NULL or not, counts as true).
--
-- How LuaJIT compiles it matters as much as what it does:
-- - No loop but the batch's element loop. A loop met while recording a trace either ends the trace or makes
--   it abort, and a function whose traces keep aborting is blacklisted: it then runs interpreted, and so does
--   whatever calls it, where FFI code is many times slower than the string code above. So runs of
--   whitespace, digits and the like are read by straight-line code up to a bound, and past it the fast path
--   gives up, as it does for anything that needs the general scanner's loops.
-- - State lives in arguments and return values, not upvalues, so the element loop compiles into one trace
--   that stores nothing but the methods.
-- - That loop must grow hot before anything it calls: a function called twice per element from the
--   interpreter reaches LuaJIT's threshold first, gets a trace of its own, and that trace's side exits then
--   record onward through the still interpreted loop, unrolling it, so that the loop never gets its own
--   trace. Functions called once per element are safe; those called more often take an unused `...`: LuaJIT
--   starts no trace at the entry of a vararg function, while a trace passing through one compiles it as any
--   other.
-- luacheck: push ignore 212

-- pcall: a second declaration of the same name is an error (the module may be loaded twice in one state).
-- strchr, not memchr: no length to pass. It stops at the first NUL, which is the body's end in a clean body.
-- strchrnul finds a backslash or the first NUL in one pass.
pcall(ffi.cdef, 'const uint8_t *ethnode_scan_strchr(const void *, int) __asm__("strchr");')
pcall(ffi.cdef, 'const uint8_t *ethnode_scan_strchrnul(const void *, int) __asm__("strchrnul");')
local strchr, strchrnul = ffi.C.ethnode_scan_strchr, ffi.C.ethnode_scan_strchrnul
local cast, tonumber, min, max = ffi.cast, tonumber, math.min, math.max
local rshift, tobit = bit.rshift, bit.tobit

-- The word that eight bytes spell (in memory order, whatever the machine's byte order).
local function spelled(str)
    return cast(WORDS, str)[0]
end

-- Words to compare with: the member names with their quotes ("jsonrpc without its closing one), "id" with its
-- colon in the first five bytes, and the closing quote, colon and value of "jsonrpc" in the first seven.
local Q_METHOD, Q_PARAMS, Q_JSONRPC = spelled('"method"'), spelled('"params"'), spelled('"jsonrpc')
local Q_ID, Q_V20 = spelled('"id":\0\0\0'), spelled('":"2.0"\0')
-- FIRST[n]: the first n bytes of a word.
local FIRST = ffi.new("uint64_t[9]")
for n = 0, 8 do FIRST[n] = spelled(string.rep("\255", n) .. string.rep("\0", 8 - n)) end
local FIRST5, FIRST7 = FIRST[5], FIRST[7]

-- Finding a byte inside a word (the first quote, the first non-digit) takes the lowest byte first: only where
-- the lowest-addressed byte is the least significant one. Elsewhere the fast path gives up at once.
local LITTLE = ffi.abi("le")
local QUOTES, LOW7 = ONES * 34, ONES * 0x7f
local DIGITS, TEN_UP = ONES * 0x30, ONES * 0x76
local BYTE_NUMBERS = 0x0001020304050607ULL

-- The number (0 to 7, in memory order) of the first byte of a word whose top bit is set in m (only top bits
-- set, at least one): the lowest one isolated, moved to the bottom of its byte, and multiplied so that its
-- byte's number lands in the top byte.
local function first_byte(m, ...)
    return tobit(rshift(rshift(band(m, bnot(m) + 1), 7) * BYTE_NUMBERS, 56))
end

-- The whitespace bytes, 1 at their value.
local BLANK = ffi.new("uint8_t[256]")
for _, c in ipairs({ 32, 10, 13, 9 }) do BLANK[c] = 1 end

-- The first byte at or after q that is not whitespace, and where it is. Up to 16 bytes of whitespace; after
-- more (indentation that deep is rare) it gives up and answers 0, a byte that matches no token.
local function ws(q, ...)
    local c = q[0]
    if BLANK[c] == 0 then return q, c end
    c = q[1]
    if BLANK[c] == 0 then return q + 1, c end
    c = q[2]
    if BLANK[c] == 0 then return q + 2, c end
    c = q[3]
    if BLANK[c] == 0 then return q + 3, c end
    c = q[4]
    if BLANK[c] == 0 then return q + 4, c end
    c = q[5]
    if BLANK[c] == 0 then return q + 5, c end
    c = q[6]
    if BLANK[c] == 0 then return q + 6, c end
    c = q[7]
    if BLANK[c] == 0 then return q + 7, c end
    c = q[8]
    if BLANK[c] == 0 then return q + 8, c end
    c = q[9]
    if BLANK[c] == 0 then return q + 9, c end
    c = q[10]
    if BLANK[c] == 0 then return q + 10, c end
    c = q[11]
    if BLANK[c] == 0 then return q + 11, c end
    c = q[12]
    if BLANK[c] == 0 then return q + 12, c end
    c = q[13]
    if BLANK[c] == 0 then return q + 13, c end
    c = q[14]
    if BLANK[c] == 0 then return q + 14, c end
    c = q[15]
    if BLANK[c] == 0 then return q + 15, c end
    return q + 16, 0
end

-- The string whose opening quote is at q, in a body that is clean (see `clean`; any other is the general
-- scanner's): just past it, or nil. Its next quote closes it; a short one ("latest", most ids) ends within
-- the next eight bytes, found there without a call.
local function string_at(q, e, ...)
    if q <= e - 8 then
        local x = bxor(cast(WORDS, q + 1)[0], QUOTES)
        -- The top bit of each byte that is a quote; bytes above the first one may be marked too (the borrow),
        -- never one below it.
        local m = band(x - ONES, bnot(x), HIGHS)
        if m ~= 0ULL then return q + 2 + first_byte(m) end
        q = q + 8
    end
    local r = strchr(q + 1, 34)
    if r == nil then return nil end
    return r + 1
end

-- One to 16 digits from q: just past them and the byte there; nil if none, or more.
local function digits_at(q, ...)
    local c = q[0]
    if c < 48 or c > 57 then return nil end
    c = q[1]
    if c < 48 or c > 57 then return q + 1, c end
    c = q[2]
    if c < 48 or c > 57 then return q + 2, c end
    c = q[3]
    if c < 48 or c > 57 then return q + 3, c end
    c = q[4]
    if c < 48 or c > 57 then return q + 4, c end
    c = q[5]
    if c < 48 or c > 57 then return q + 5, c end
    c = q[6]
    if c < 48 or c > 57 then return q + 6, c end
    c = q[7]
    if c < 48 or c > 57 then return q + 7, c end
    c = q[8]
    if c < 48 or c > 57 then return q + 8, c end
    c = q[9]
    if c < 48 or c > 57 then return q + 9, c end
    c = q[10]
    if c < 48 or c > 57 then return q + 10, c end
    c = q[11]
    if c < 48 or c > 57 then return q + 11, c end
    c = q[12]
    if c < 48 or c > 57 then return q + 12, c end
    c = q[13]
    if c < 48 or c > 57 then return q + 13, c end
    c = q[14]
    if c < 48 or c > 57 then return q + 14, c end
    c = q[15]
    if c < 48 or c > 57 then return q + 15, c end
    c = q[16]
    if c < 48 or c > 57 then return q + 16, c end
    return nil
end

-- An RFC 8259 number from q: just past it, or nil. As skip_number, for digit runs of up to 16.
local function number_at(q, ...)
    local c = q[0]
    if c == 45 then
        q = q + 1
        c = q[0]
    end
    if c == 48 then
        q = q + 1
        c = q[0]
    else
        q, c = digits_at(q)
        if not q then return nil end
    end
    if c == 46 then
        q, c = digits_at(q + 1)
        if not q then return nil end
    end
    if c == 101 or c == 69 then
        q = q + 1
        c = q[0]
        if c == 43 or c == 45 then q = q + 1 end
        q = digits_at(q)
    end
    return q
end

-- The top bit of each byte of w that is not an ASCII digit. w ^ "0"s leaves 0 to 9 for the digits and only
-- them; adding 0x76 to the low seven bits of each byte carries into the top bit from 10 up, and the bytes from
-- 0x80 have it already.
local function non_digits(w, ...)
    local t = bxor(w, DIGITS)
    return band(bor(band(t, LOW7) + TEN_UP, t), HIGHS)
end

-- An id the fast path echoes safely, from q (past any minus sign): an integer of at most 15 digits (exact in
-- a double); just past it, or nil. As skip_plain_integer. The digits are counted a word at a time, so that ids
-- of any length take the same path through the compiled element loop.
local function plain_integer_at(q, e)
    local r
    if q <= e - 16 then
        local m, k = non_digits(cast(WORDS, q)[0]), 0
        if m == 0ULL then
            -- Eight digits: the next eight hold the end, or the number is longer than 15 digits.
            m, k = non_digits(cast(WORDS, q + 8)[0]), 8
            if m == 0ULL then return nil end
        end
        r = q + (k + first_byte(m))
    else
        r = digits_at(q)
    end
    -- No digit, too many, or a leading zero before another digit. A fraction or an exponent after the digits
    -- is refused by the separator test that follows every value.
    if not r or r == q or r > q + 15 or (q[0] == 48 and r > q + 1) then return nil end
    return r
end

-- true, false or null at q, whose first byte is c: just past it, or nil. As skip_literal.
local function literal_at(q, c, ...)
    if c == 116 then
        if q[1] == 114 and q[2] == 117 and q[3] == 101 then return q + 4 end
    elseif c == 110 then
        if q[1] == 117 and q[2] == 108 and q[3] == 108 then return q + 4 end
    elseif c == 102 then
        if q[1] == 97 and q[2] == 108 and q[3] == 115 and q[4] == 101 then return q + 5 end
    end
    return nil
end

-- One string, number or literal at q, whose first byte is c: just past it, or nil.
local function scalar_at(q, e, c, ...)
    if c == 34 then return string_at(q, e) end
    if c == 45 or (c >= 48 and c <= 57) then return number_at(q) end
    return literal_at(q, c)
end

-- A scalar from q (whitespace first) in an array, then the separator after it: where a comma or the closing
-- bracket is (or anything else, after whitespace) and that byte; nil for anything else.
local function scalar_then(q, e, ...)
    local c = q[0]
    if c ~= 34 and c <= 32 then q, c = ws(q) end
    q = scalar_at(q, e, c)
    if not q then return nil end
    c = q[0]
    if c ~= 44 and c ~= 93 then q, c = ws(q) end
    return q, c
end

-- An array of up to four scalars, from its opening bracket at q: just past it, or nil. Written out, as the
-- arrays and the object below: each reads its own level, so that none calls itself.
local function scalars_at(q, e, ...)
    q = q + 1
    local c = q[0]
    if c ~= 93 and c <= 32 then q, c = ws(q) end
    if c == 93 then return q + 1 end
    q, c = scalar_then(q, e)
    if c == 93 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = scalar_then(q + 1, e)
    if c == 93 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = scalar_then(q + 1, e)
    if c == 93 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = scalar_then(q + 1, e)
    if c == 93 then return q + 1 end
    return nil
end

-- A scalar or an array of scalars from q (whitespace first) in an array, then the separator after it, as
-- scalar_then.
local function list_then(q, e, ...)
    local c = q[0]
    if c ~= 34 and c <= 32 then q, c = ws(q) end
    if c == 91 then
        q = scalars_at(q, e)
    else
        q = scalar_at(q, e, c)
    end
    if not q then return nil end
    c = q[0]
    if c ~= 44 and c ~= 93 then q, c = ws(q) end
    return q, c
end

-- An array of up to four scalars or arrays of scalars (eth_getLogs' topics), from its opening bracket at q:
-- just past it, or nil.
local function lists_at(q, e, ...)
    q = q + 1
    local c = q[0]
    if c ~= 93 and c <= 32 then q, c = ws(q) end
    if c == 93 then return q + 1 end
    q, c = list_then(q, e)
    if c == 93 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = list_then(q + 1, e)
    if c == 93 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = list_then(q + 1, e)
    if c == 93 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = list_then(q + 1, e)
    if c == 93 then return q + 1 end
    return nil
end

-- A member of an object whose values are scalars or such arrays (eth_call's transaction, eth_getLogs' filter)
-- from q (whitespace first), `"name": value`, then the separator after it: where a comma or the closing brace
-- is (or anything else, after whitespace) and that byte; nil for anything else.
local function pair_then(q, e, ...)
    local c = q[0]
    if c ~= 34 then
        q, c = ws(q)
        if c ~= 34 then return nil end
    end
    q = string_at(q, e)
    if not q then return nil end
    c = q[0]
    if c ~= 58 then
        q, c = ws(q)
        if c ~= 58 then return nil end
    end
    q = q + 1
    c = q[0]
    if c ~= 34 and c <= 32 then q, c = ws(q) end
    if c == 91 then
        q = lists_at(q, e)
    else
        q = scalar_at(q, e, c)
    end
    if not q then return nil end
    c = q[0]
    if c ~= 44 and c ~= 125 then q, c = ws(q) end
    return q, c
end

-- An object of up to twelve such members, from its opening brace at q: just past it, or nil for anything else.
local function flat_object_at(q, e, ...)
    q = q + 1
    local c = q[0]
    if c ~= 125 and c <= 32 then q, c = ws(q) end
    if c == 125 then return q + 1 end
    q, c = pair_then(q, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = pair_then(q + 1, e)
    if c == 125 then return q + 1 end
    return nil
end

-- An element of params from q (whitespace first), a scalar, an array of scalars or such an object, then the
-- separator after it, as scalar_then.
local function element_then(q, e, ...)
    local c = q[0]
    if c ~= 34 and c <= 32 then q, c = ws(q) end
    if c == 34 then
        q = string_at(q, e)
    elseif c == 45 or (c >= 48 and c <= 57) then
        q = number_at(q)
    elseif c == 123 then
        q = flat_object_at(q, e)
    elseif c == 91 then
        q = scalars_at(q, e)
    else
        q = literal_at(q, c)
    end
    if not q then return nil end
    c = q[0]
    if c ~= 44 and c ~= 93 then q, c = ws(q) end
    return q, c
end

-- The common params, an array of one to four elements as above, from its opening bracket at q: just past it,
-- or nil. Accepts what scalar_array and then skip_value accept, when they read such an array.
local function elements_at(q, e)
    local c
    q, c = element_then(q + 1, e)
    if c == 93 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = element_then(q + 1, e)
    if c == 93 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = element_then(q + 1, e)
    if c == 93 then return q + 1 end
    if c ~= 44 then return nil end
    q, c = element_then(q + 1, e)
    if c == 93 then return q + 1 end
    return nil
end

-- The members an object has seen, as bits.
local HAS_JSONRPC, HAS_ID, HAS_METHOD, HAS_PARAMS = 1, 2, 4, 8

-- The last method name read: a name spelled as the last one is that string again, compared in place, so the
-- usual request (the same few methods, and a batch of one method) makes no new string. Its bytes and the
-- closing quote are also kept as up to four words (`last_words` of them, 0 for a longer name), each masked
-- to its bytes, so that the comparison needs no call.
local last_name = ""
local last_words = 0
local LAST, LAST_MASK = ffi.new("uint64_t[4]"), ffi.new("uint64_t[4]")
local NULS = string.rep("\0", 32)

local function remember(m)
    last_name = m
    local n = #m + 1
    if n > 32 then
        last_words = 0
        return
    end
    -- Kept in a local while its bytes are read: a pointer keeps nothing alive.
    local bytes = m .. '"' .. NULS
    local w = cast(WORDS, bytes)
    LAST[0], LAST[1], LAST[2], LAST[3] = w[0], w[1], w[2], w[3]
    LAST_MASK[0], LAST_MASK[1] = FIRST[min(n, 8)], FIRST[max(min(n - 8, 8), 0)]
    LAST_MASK[2], LAST_MASK[3] = FIRST[max(min(n - 16, 8), 0)], FIRST[max(n - 24, 0)]
    last_words = math.ceil(n / 8)
end

-- Whether the last method name and its closing quote follow the quote at q, by words (the caller has made sure
-- there are k of them in the body).
local function same_words(q, k)
    if band(cast(WORDS, q + 1)[0], LAST_MASK[0]) ~= LAST[0] then return false end
    if k == 1 then return true end
    if band(cast(WORDS, q + 9)[0], LAST_MASK[1]) ~= LAST[1] then return false end
    if k == 2 then return true end
    if band(cast(WORDS, q + 17)[0], LAST_MASK[2]) ~= LAST[2] then return false end
    if k == 3 then return true end
    return band(cast(WORDS, q + 25)[0], LAST_MASK[3]) == LAST[3]
end

-- The method's string value in the body s (at p), its opening quote at q: just past the closing quote and the
-- name, or nil. A name not yet seen plain by the general scanner (plain_name, a loop) is left to it.
local function method_at(s, p, q, e)
    local m, k = last_name, last_words
    local len = #m
    if k > 0 and q <= e - 33 then
        if same_words(q, k) then return q + len + 2, m end
    elseif len > 0 and q + len < e and q[len + 1] == 34 and memcmp(q + 1, m, len) == 0 then
        return q + len + 2, m
    end
    local r = strchr(q + 1, 34)
    -- From 1 to 128 bytes.
    if r == nil or r < q + 2 or r > q + 129 then return nil end
    m = sub(s, tonumber(q - p) + 2, tonumber(r - p))
    if not plain_names:get(m) then return nil end
    remember(m)
    return r + 1, m
end

-- Which of the four member names follows the quote at q, and just past its closing quote; nil for any other
-- name (escapes included). Byte by byte: the path for a body with whitespace, or near its end.
local function name_after(q, ...)
    local a = q[1]
    if a == 105 then -- id
        if q[2] == 100 and q[3] == 34 then return HAS_ID, q + 4 end
    elseif a == 109 then -- method
        if q[2] == 101 and q[3] == 116 and q[4] == 104 and q[5] == 111 and q[6] == 100 and q[7] == 34 then
            return HAS_METHOD, q + 8
        end
    elseif a == 112 then -- params
        if q[2] == 97 and q[3] == 114 and q[4] == 97 and q[5] == 109 and q[6] == 115 and q[7] == 34 then
            return HAS_PARAMS, q + 8
        end
    elseif a == 106 then -- jsonrpc
        if q[2] == 115 and q[3] == 111 and q[4] == 110 and q[5] == 114 and q[6] == 112 and q[7] == 99 and q[8] == 34 then
            return HAS_JSONRPC, q + 9
        end
    end
    return nil
end

-- One member of the body s (at p), `"name": value`, from q (whitespace first), in an object that has seen the
-- members in `seen` and the method `name`, then the separator after it. Returns where a comma or the closing
-- brace is (or anything else, after whitespace) and that byte, the members seen and the method; nil if the
-- member is not one of a plain request, or not one this path reads (params nested deeper, or longer).
local function member_at(s, p, q, e, seen, name, ...)
    local key, c
    if q <= e - 16 then
        -- The name, its quotes and its colon a word at a time (for "jsonrpc" the value too).
        local w = cast(WORDS, q)[0]
        if w == Q_METHOD and q[8] == 58 then
            key, q = HAS_METHOD, q + 9
        elseif w == Q_PARAMS and q[8] == 58 then
            key, q = HAS_PARAMS, q + 9
        elseif band(w, FIRST5) == Q_ID then
            key, q = HAS_ID, q + 5
        elseif w == Q_JSONRPC and band(cast(WORDS, q + 8)[0], FIRST7) == Q_V20 then
            if band(seen, HAS_JSONRPC) ~= 0 then return nil end
            key, q = HAS_JSONRPC, q + 15
            goto separator
        end
    end
    if not key then
        q, c = ws(q)
        if c ~= 34 then return nil end
        key, q = name_after(q)
        if not key then return nil end
        q, c = ws(q)
        if c ~= 58 then return nil end
        q = q + 1
    end
    if band(seen, key) ~= 0 then return nil end
    c = q[0]
    if key == HAS_METHOD then
        if c ~= 34 then
            q, c = ws(q)
            if c ~= 34 then return nil end
        end
        q, name = method_at(s, p, q, e)
    elseif key == HAS_ID then
        if c >= 48 and c <= 57 then
            local d = q[1]
            if d < 48 or d > 57 then
                -- One digit (the ids of a batch counting from 1, mostly). A fraction or an exponent after it
                -- is refused by the separator test that follows every value.
                q = q + 1
            else
                q = plain_integer_at(q, e)
            end
        else
            if c <= 32 then q, c = ws(q) end
            if c == 34 then
                q = string_at(q, e)
            elseif c == 110 then
                q = literal_at(q, c)
            elseif c == 45 then
                q = plain_integer_at(q + 1, e)
            else
                -- Digits after whitespace; anything else is refused there.
                q = plain_integer_at(q, e)
            end
        end
    elseif key == HAS_PARAMS then
        if c ~= 91 and c ~= 123 then
            q, c = ws(q)
            if c ~= 91 and c ~= 123 then return nil end
        end
        -- No params (eth_blockNumber, eth_chainId, ...: the most frequent calls), or a few elements.
        if q[1] == (c == 91 and 93 or 125) then
            q = q + 2
        elseif c == 91 then
            q = elements_at(q, e)
        else
            q = flat_object_at(q, e)
        end
    else -- jsonrpc, with whitespace somewhere
        if c <= 32 then q, c = ws(q) end
        if c ~= 34 or q[1] ~= 50 or q[2] ~= 46 or q[3] ~= 48 or q[4] ~= 34 then return nil end
        q = q + 5
    end
    if not q then return nil end
    ::separator::
    c = q[0]
    if c ~= 44 and c ~= 125 then q, c = ws(q) end
    return q, c, seen + key, name
end

local NEEDED = HAS_JSONRPC + HAS_METHOD

-- One plain request object of the body s (at p) from q (whitespace first): just past its closing brace, its
-- method and whether it has an id; nil if it is not one this path reads.
local function request_at(s, p, q, e)
    local c = q[0]
    if c ~= 123 then
        q, c = ws(q)
        if c ~= 123 then return nil end
    end
    -- At most four members (four names, each at most once), written out.
    local seen, name
    q, c, seen, name = member_at(s, p, q + 1, e, 0, nil)
    if c == 44 then q, c, seen, name = member_at(s, p, q + 1, e, seen, name) end
    if c == 44 then q, c, seen, name = member_at(s, p, q + 1, e, seen, name) end
    if c == 44 then q, c, seen, name = member_at(s, p, q + 1, e, seen, name) end
    if c ~= 125 or band(seen, NEEDED) ~= NEEDED then return nil end
    return q + 1, name, band(seen, HAS_ID) ~= 0
end

-- Whether the body (at p, its NUL at e) is clean, as clean_body decides it: for a caller that takes raw
-- control characters, no backslash and no NUL before e (strchrnul stops at the first of either).
local function clean_at(s, p, e, controls)
    if controls then return strchrnul(p, 92) == e end
    return plain_bytes(s)
end

-- As general_request. false when the body is certainly no plain request (it is no object), nil when this path
-- cannot tell.
local function fast_request(s, controls)
    if not LITTLE then return nil end
    local p = cast(BYTES, s)
    local e = p + #s
    local q, c = ws(p)
    if c ~= 123 then
        -- 0: a NUL, or whitespace too long to read here.
        if c == 0 then return nil end
        return false
    end
    if not clean_at(s, p, e, controls) then return nil end
    local r, name, with_id = request_at(s, p, q, e)
    -- Nothing but whitespace may follow.
    if not r or ws(r) ~= e then return nil end
    return name, with_id
end

-- As general_batch. false when the body is certainly no batch of plain requests (it is no array), nil when
-- this path cannot tell. The loop is left by `break` only: LuaJIT turns a loop whose recorded turn returns
-- into a trace that leaves and re-enters at every element, while a turn that leaves the loop is not taken
-- as its trace. What comes before the first element is read inside the loop, on its first turn: LuaJIT
-- compiles a loop, not the code before it, and FFI calls run slowly in the interpreter. The position is carried
-- from one turn to the next as a number: a pointer carried into the loop from the trace of its first turn
-- would be boxed (allocated) at that jump, once per body.
local function fast_batch(s, max_elements, out, controls)
    if not LITTLE then return nil end
    local i, n = 0, nil
    for k = 1, max_elements do
        local p = cast(BYTES, s)
        local e = p + #s
        if k == 1 then
            local q, c = ws(p)
            if c ~= 91 then
                if c ~= 0 then n = false end
                break
            end
            if not clean_at(s, p, e, controls) then break end
            i = tonumber(q - p)
        end
        local r, name = request_at(s, p, p + i + 1, e)
        if not r then break end
        out[k] = name
        local c = r[0]
        if c ~= 44 and c ~= 93 then r, c = ws(r) end
        if c ~= 44 then
            -- The closing bracket, and nothing but whitespace after it.
            if c == 93 and ws(r + 1) == e then n = k end
            break
        end
        i = tonumber(r - p)
    end
    return n
end

-- luacheck: pop

-- Returns the method and whether an id member is present (false: a notification) when `s` is one plain
-- request as described at the top; nil otherwise. `controls` as for clean_body.
function _M.request(s, controls)
    local name, with_id = fast_request(s, controls)
    if name then return name, with_id end
    if name == false then return nil end
    return general_request(s, controls)
end

-- A batch of plain requests, each as `request` reads one, in one pass and without cutting it up: writes the
-- methods into `out` (the caller's, reused) and returns how many; nil when `s` is not such a batch, is empty
-- or holds more than `max_elements` (the full parser then answers). `controls` as for clean_body.
function _M.batch(s, max_elements, out, controls)
    local n = fast_batch(s, max_elements, out, controls)
    if n then return n end
    if n == false then return nil end
    return general_batch(s, max_elements, out, controls)
end

-- For the tests: the general scanners alone, the reference the fast path is held to, and the fast path alone
-- (false or nil where the entry points above ask the general scanner), which must read the common bodies itself.
_M.general_request, _M.general_batch = general_request, general_batch
_M.fast_request, _M.fast_batch = fast_request, fast_batch

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
