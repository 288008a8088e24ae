-- A strict single-pass JSON scanner for the common request: one JSON-RPC call whose members are only
-- "jsonrpc": "2.0", "id" (number, string or null), "method" (a plain string) and "params" (array or object),
-- each at most once. It only recognizes such bodies, builds no tables, and returns the method; anything else
-- (a batch, escapes in the method or a key, another member, a duplicate, deep nesting, any doubt at all)
-- returns nil and the full parser decides. So it can only send a body down the slower path, never change
-- what a body means. Pure: tested under plain LuaJIT against cjson.
local byte, sub = string.byte, string.sub

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

-- s[i] is the opening quote. Returns the index after the closing quote and whether there were escapes.
local function skip_string(s, i)
    local escaped = false
    i = i + 1
    while true do
        local c = byte(s, i)
        if c == nil or c < 32 then return nil end
        if c == 34 then return i + 1, escaped end
        if c == 92 then
            escaped = true
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

local function skip_digits(s, i)
    local c = byte(s, i)
    if c == nil or c < 48 or c > 57 then return nil end
    repeat
        i = i + 1
        c = byte(s, i)
    until c == nil or c < 48 or c > 57
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

local function skip_literal(s, i, c)
    local a, b, d, e = byte(s, i + 1, i + 4)
    if c == 116 and a == 114 and b == 117 and d == 101 then return i + 4 end -- true
    if c == 110 and a == 117 and b == 108 and d == 108 then return i + 4 end -- null
    if c == 102 and a == 97 and b == 108 and d == 115 and e == 101 then return i + 5 end -- false
    return nil
end

-- A member name and its colon, from i (whitespace first). Returns the index after the colon, or nil.
local function skip_name(s, i)
    local c
    i, c = skip_ws(s, i)
    if c ~= 34 then return nil end
    i = skip_string(s, i)
    if not i then return nil end
    i, c = skip_ws(s, i)
    if c ~= 58 then return nil end
    return i + 1
end

-- Open containers of the value being skipped (123 = object, 91 = array). Reused: nothing here yields.
local stack = {}

-- Skips one JSON value starting at or after i; returns the index after it, or nil.
local function skip_value(s, i)
    local depth = 0
    local c
    while true do
        -- A value is expected at i.
        i, c = skip_ws(s, i)
        if c == 123 or c == 91 then
            depth = depth + 1
            if depth > MAX_DEPTH then return nil end
            stack[depth] = c
            i, c = skip_ws(s, i + 1)
            if (c == 125 and stack[depth] == 123) or (c == 93 and stack[depth] == 91) then
                -- Empty: a whole value, handled below like any other.
                i = i + 1
                depth = depth - 1
            else
                if stack[depth] == 123 then i = skip_name(s, i) end
                if not i then return nil end
                goto continue
            end
        elseif c == 34 then
            i = skip_string(s, i)
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
                    i = skip_name(s, i)
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

-- Returns the method and whether an id member is present (false: a notification) when `s` is one plain
-- request as described at the top; nil otherwise.
function _M.request(s)
    local i, c = skip_ws(s, 1)
    if c ~= 123 then return nil end
    i, c = skip_ws(s, i + 1)
    local method, has_id, version, params
    while true do
        if c ~= 34 then return nil end
        local key_end, escaped = skip_string(s, i)
        if not key_end or escaped then return nil end
        local key = sub(s, i + 1, key_end - 2)
        i, c = skip_ws(s, key_end)
        if c ~= 58 then return nil end
        i, c = skip_ws(s, i + 1)
        if key == "method" then
            if method or c ~= 34 then return nil end
            local e, esc = skip_string(s, i)
            if not e or esc or e - i - 2 < 1 or e - i - 2 > 128 then return nil end
            method = sub(s, i + 1, e - 2)
            i = e
        elseif key == "jsonrpc" then
            local q1, d2, dot, d0, q2 = byte(s, i, i + 4)
            if version or q1 ~= 34 or d2 ~= 50 or dot ~= 46 or d0 ~= 48 or q2 ~= 34 then return nil end
            version = true
            i = i + 5
        elseif key == "id" then
            if has_id then return nil end
            has_id = true
            if c == 34 then
                i = skip_string(s, i)
            elseif c == 110 then
                i = skip_literal(s, i, c)
            else
                i = skip_number(s, i)
            end
        elseif key == "params" then
            if params or (c ~= 91 and c ~= 123) then return nil end
            params = true
            i = skip_value(s, i)
        else
            return nil
        end
        if not i then return nil end
        i, c = skip_ws(s, i)
        if c == 125 then break end
        if c ~= 44 then return nil end
        i, c = skip_ws(s, i + 1)
    end
    -- Nothing but whitespace may follow.
    if skip_ws(s, i + 1) ~= #s + 1 or not version or not method then return nil end
    return method, has_id == true
end

return _M
