-- JSON-RPC 2.0 request parsing and validation. Pure: no ngx; tested under plain LuaJIT.
local cjson = require("cjson.safe")
-- NaN, Infinity and hex numbers are not JSON: a body holding one is a parse error, not a number.
cjson.decode_invalid_numbers(false)

local type, ipairs, pairs, next, tostring = type, ipairs, pairs, next, tostring
local huge = math.huge
local byte, format = string.byte, string.format

local _M = { _VERSION = "0.1.0" }

_M.PARSE_ERROR = -32700
_M.INVALID_REQUEST = -32600
_M.METHOD_NOT_FOUND = -32601
_M.INVALID_PARAMS = -32602
_M.INTERNAL_ERROR = -32603
_M.LIMIT_EXCEEDED = -32005

-- cjson decodes JSON null as this sentinel.
local NULL = cjson.null

-- An id may be a string, a number or null; anything else is invalid (and echoed as null).
local function valid_id(id)
    local t = type(id)
    return id == nil or id == NULL or t == "string" or t == "number"
end

-- A number too large for a double (1e400) decodes to infinity: no JSON can carry it back.
local function finite(x)
    return type(x) ~= "number" or (x == x and x ~= huge and x ~= -huge)
end

-- Validates one decoded request. Returns the request, or nil, a message, the id to echo and the error code
-- (invalid request, or a parse error for a number out of range).
-- cjson gives objects string keys only, so an element at [1] means the value was a non-empty array; an
-- empty one has no method and fails below. (No pairs/next here: they keep LuaJIT from compiling the path.)
function _M.validate(req)
    if type(req) ~= "table" or req[1] ~= nil then
        return nil, "request must be an object", NULL
    end
    local id = req.id
    if not finite(id) then return nil, "number out of range", NULL, _M.PARSE_ERROR end
    if not valid_id(id) then return nil, "id must be a string, number or null", NULL end
    if req.jsonrpc ~= "2.0" then return nil, 'jsonrpc must be "2.0"', id end
    local method = req.method
    if type(method) ~= "string" or method == "" or #method > 128 then
        return nil, "method must be a non-empty string", id
    end
    local params = req.params
    if params ~= nil and type(params) ~= "table" then return nil, "params must be an array or object", id end
    return req
end

-- Parses a body. A single request returns the request and false; a batch returns its items
-- ({ req = .. } or { err = msg, id = .., code = .. } each) and true; a body that is neither returns nil, an
-- error code, a message and the id to echo.
function _M.parse(body, max_batch)
    if type(body) ~= "string" or body == "" then return nil, _M.PARSE_ERROR, "empty body" end
    -- First non-whitespace byte, by a byte loop (string patterns are not JIT-compiled).
    local first, len = 1, #body
    local c = byte(body, 1)
    while c == 32 or c == 10 or c == 13 or c == 9 do
        first = first + 1
        c = byte(body, first)
    end
    if first > len then return nil, _M.PARSE_ERROR, "empty body" end
    local decoded, err = cjson.decode(body)
    if decoded == nil and err then return nil, _M.PARSE_ERROR, "parse error" end
    if c ~= 91 then -- not "[": a single request
        local req, msg, id, code = _M.validate(decoded)
        if not req then return nil, code or _M.INVALID_REQUEST, msg, id end
        return req, false
    end
    return _M.parse_batch(decoded, max_batch)
end

function _M.parse_batch(decoded, max_batch)
    if type(decoded) ~= "table" then return nil, _M.INVALID_REQUEST, "invalid batch" end
    local n = #decoded
    if n == 0 then return nil, _M.INVALID_REQUEST, "empty batch" end
    if n > max_batch then
        return nil, _M.INVALID_REQUEST, format("batch of %d requests exceeds the limit of %d", n, max_batch)
    end
    local items = {}
    for i, el in ipairs(decoded) do
        local req, msg, id, code = _M.validate(el)
        items[i] = req and { req = req } or { err = msg, id = id, code = code or _M.INVALID_REQUEST }
    end
    return items, true
end

function _M.error_object(id, code, message, data)
    local e = { code = code, message = message }
    if data ~= nil then e.data = data end
    if id == nil then id = NULL end
    return { jsonrpc = "2.0", id = id, error = e }
end

function _M.encode_error(id, code, message, data)
    return cjson.encode(_M.error_object(id, code, message, data))
end

-- An error answer around an id's exact bytes from the request (scan.raw_id).
function _M.encode_error_raw(raw_id, code, message)
    return format('{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":%s}}', raw_id, code, cjson.encode(message))
end

-- Re-encodes a request for forwarding. Debian's cjson cannot tell [] from {}; an empty params is dropped,
-- which every client reads as "no parameters".
-- nil (and an error) when it holds a number no JSON can carry (1e999 decodes to infinity).
function _M.encode_request(req)
    local out = { jsonrpc = "2.0", method = req.method, id = req.id }
    if req.params ~= nil and next(req.params) ~= nil then out.params = req.params end
    return cjson.encode(out)
end

local function id_key(id)
    return type(id) .. ":" .. tostring(id)
end

-- A batch's answers in the order of its requests: `answers[i]` is the local answer to item i (refused here),
-- `upstream` the backend's answers to the rest, matched by id value (repeated ids in turn; `answer_id` reads
-- an answer's id). Answers that match no request (an error with a null id) come last; notifications get none.
-- `render(i, a)` writes item i's local answer into the output.
local function splice_with(items, answers, upstream, answer_id, render)
    local by_id, unmatched = {}, {}
    for _, r in ipairs(upstream) do
        local id = answer_id(r)
        if id ~= nil and id ~= NULL then
            local k = id_key(id)
            local q = by_id[k]
            if not q then
                q = {}
                by_id[k] = q
            end
            q[#q + 1] = r
        else
            unmatched[#unmatched + 1] = r
        end
    end
    local out = {}
    for i, item in ipairs(items) do
        local local_answer = answers[i]
        if local_answer then
            out[#out + 1] = render(i, local_answer)
        elseif item.req and item.req.id ~= nil then
            local q = by_id[id_key(item.req.id)]
            local r = q and table.remove(q, 1)
            if r then out[#out + 1] = r end
        end
    end
    for _, q in pairs(by_id) do
        for _, r in ipairs(q) do unmatched[#unmatched + 1] = r end
    end
    for _, r in ipairs(unmatched) do out[#out + 1] = r end
    return out
end

local function decoded_id(r)
    return type(r) == "table" and r.id or nil
end

local function as_is(_, a)
    return a
end

-- The answers as decoded tables (the caller encodes them).
function _M.splice(items, answers, upstream)
    return splice_with(items, answers, upstream, decoded_id, as_is)
end

-- The answers as text, when the gateway has each request element's bytes (`raw`) and each of the backend's
-- answers as bytes (`upstream`, scan.elements): nothing the client or the backend wrote is re-encoded (ids,
-- big numbers, empty arrays stay byte for byte), and a local error is written around its element's own id
-- bytes (`raw_id`, scan.raw_id). Matching is by id value: a backend may write "\u00e9" back as "é".
function _M.splice_raw(items, raw, answers, upstream, raw_id)
    local function answer_id(a)
        local bytes = raw_id(a)
        return bytes and cjson.decode(bytes)
    end
    local function render(i, a)
        local bytes = raw_id(raw[i])
        return bytes and _M.encode_error_raw(bytes, a.error.code, a.error.message) or cjson.encode(a)
    end
    return splice_with(items, answers, upstream, answer_id, render)
end

_M.decode = cjson.decode
_M.encode = cjson.encode
_M.null = NULL

return _M
