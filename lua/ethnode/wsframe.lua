-- WebSocket frames (RFC 6455): reading one frame from a socket within a size limit and a deadline, and writing
-- frames. Pure but for the socket and the clock handed in; tested under plain LuaJIT with a stand-in socket.
local bit = require("bit")
local receive_by = require("ethnode.deadline").receive
local ffi = require("ffi")
local band, bor, bxor, rshift = bit.band, bit.bor, bit.bxor, bit.rshift
local byte, char, sub, find = string.byte, string.char, string.sub, string.find
local concat = table.concat
local ceil, floor = math.ceil, math.floor

local _M = { _VERSION = "0.1.0" }

_M.CONTINUATION, _M.TEXT, _M.BINARY, _M.CLOSE, _M.PING, _M.PONG = 0, 1, 2, 8, 9, 10

-- Close codes the gateway sends.
_M.NORMAL, _M.GOING_AWAY, _M.PROTOCOL_ERROR, _M.BAD_DATA, _M.POLICY, _M.TOO_BIG, _M.UPSTREAM_GONE = 1000, 1001, 1002, 1007, 1008, 1009, 1011
-- The server is overloaded: the client may try again later (IANA-registered).
_M.TRY_AGAIN = 1013

local KNOWN = { [0] = true, [1] = true, [2] = true, [8] = true, [9] = true, [10] = true }

-- A frame's header: FIN, opcode, the payload length, and the masking key when one is given.
function _M.header(opcode, len, fin, mask_key)
    local b1 = fin == false and opcode or bor(0x80, opcode)
    local m = mask_key and 0x80 or 0
    local h
    if len < 126 then
        h = char(b1, bor(m, len))
    elseif len < 65536 then
        h = char(b1, bor(m, 126), rshift(len, 8), band(len, 0xff))
    else
        -- Payloads here stay far below 2^32 bytes: the high four bytes are zero.
        h = char(b1, bor(m, 127), 0, 0, 0, 0, band(rshift(len, 24), 0xff), band(rshift(len, 16), 0xff),
            band(rshift(len, 8), 0xff), band(len, 0xff))
    end
    if mask_key then h = h .. mask_key end
    return h
end

-- One growing scratch buffer for masking: a frame costs no allocation but the resulting string.
local scratch, scratch_size = nil, 0
local key_bytes = ffi.new("uint8_t[4]")

-- `data` XORed with the 4-byte key (masking and unmasking are the same operation).
function _M.mask(data, key)
    local n = #data
    if n == 0 then return data end
    if n > scratch_size then
        scratch_size = 2 ^ ceil(math.log(n) / math.log(2))
        scratch = ffi.new("uint8_t[?]", scratch_size)
    end
    ffi.copy(scratch, data, n)
    ffi.copy(key_bytes, key, 4)
    for i = 0, n - 1 do
        scratch[i] = bxor(scratch[i], key_bytes[band(i, 3)])
    end
    return ffi.string(scratch, n)
end

-- A whole frame as a server sends it (never masked).
function _M.frame(opcode, payload)
    return _M.header(opcode, #payload) .. payload
end

-- A whole frame as a client sends it, masked with `key` (4 bytes).
function _M.masked_frame(opcode, payload, key)
    return _M.header(opcode, #payload, true, key) .. _M.mask(payload, key)
end

-- A close frame's payload: the code, then a short reason.
function _M.close_payload(code, reason)
    return char(rshift(code, 8), band(code, 0xff)) .. sub(reason or "", 1, 123)
end

-- The code of a close frame's payload (1005, "no status", when it carries none).
function _M.close_code(payload)
    if #payload < 2 then return 1005 end
    local b1, b2 = byte(payload, 1, 2)
    return b1 * 256 + b2
end

-- Whether a close frame's payload is one a peer may send (RFC 6455 5.5.1, 7.4): empty, or a code in use (1000-1003,
-- 1007-1014 as IANA registers them, 3000-4999 for applications) followed by a UTF-8 reason. One byte, 1004-1006,
-- 1015 and anything below 1000 or from 5000 are not.
function _M.valid_close(payload)
    local n = #payload
    if n == 0 then return true end
    if n == 1 then return false end
    local code = _M.close_code(payload)
    local known = (code >= 1000 and code <= 1003) or (code >= 1007 and code <= 1014) or (code >= 3000 and code <= 4999)
    return known and _M.valid_utf8(sub(payload, 3))
end

-- Exactly `n` bytes from `sock`, all of them before `deadline` (seconds on `now()`'s clock).
local function read_exact(sock, n, deadline, now, send_ms)
    local parts, got = nil, 0
    while got < n do
        local data, err = receive_by(sock, n - got, deadline, now, send_ms)
        if not data then return nil, err end
        if got == 0 and #data == n then return data end
        parts = parts or {}
        parts[#parts + 1] = data
        got = got + #data
    end
    return concat(parts)
end

-- Reads one frame. The first byte may take `idle_ms`; the rest of the frame must arrive within `frame_sec` of
-- it (`send_ms` is the socket's send timeout, kept as it is). Returns a table { fin, opcode, payload (unmasked),
-- raw (the frame's bytes as they came), masked }, or nil and an error: "timeout" before any byte of a frame
-- (the peer was idle, the socket stays usable), "too big" (the payload exceeds `max_len`), "protocol" (a
-- frame no peer may send), or the socket's error (the frame was cut: the socket is not usable any more).
function _M.read(sock, max_len, idle_ms, frame_sec, now, send_ms)
    sock:settimeouts(send_ms, send_ms, idle_ms)
    local head, err = sock:receiveany(2)
    if not head then return nil, err end
    local deadline = now() + frame_sec
    if #head == 1 then
        local rest
        rest, err = read_exact(sock, 1, deadline, now, send_ms)
        if not rest then return nil, err == "timeout" and "cut" or err end
        head = head .. rest
    end
    local b1, b2 = byte(head, 1, 2)
    local fin, opcode, masked = band(b1, 0x80) ~= 0, band(b1, 0x0f), band(b2, 0x80) ~= 0
    local len = band(b2, 0x7f)
    -- Reserved bits stay clear: no extension is ever negotiated.
    if band(b1, 0x70) ~= 0 or not KNOWN[opcode] then return nil, "protocol" end
    local control = opcode >= 8
    if control and (not fin or len > 125) then return nil, "protocol" end
    local parts = { head }
    if len == 126 or len == 127 then
        local ext
        ext, err = read_exact(sock, len == 126 and 2 or 8, deadline, now, send_ms)
        if not ext then return nil, err == "timeout" and "cut" or err end
        parts[2] = ext
        len = 0
        for i = 1, #ext do len = len * 256 + byte(ext, i) end
    end
    if len > max_len then return nil, "too big" end
    local key
    if masked then
        key, err = read_exact(sock, 4, deadline, now, send_ms)
        if not key then return nil, err == "timeout" and "cut" or err end
        parts[#parts + 1] = key
    end
    local payload = ""
    if len > 0 then
        payload, err = read_exact(sock, len, deadline, now, send_ms)
        if not payload then return nil, err == "timeout" and "cut" or err end
    end
    parts[#parts + 1] = payload
    return {
        fin = fin,
        opcode = opcode,
        masked = masked,
        raw = concat(parts),
        payload = masked and _M.mask(payload, key) or payload,
    }
end

-- Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). A text
-- message must be, and JSON exchanged between systems must be; ASCII (the usual message) costs one search.
function _M.valid_utf8(s)
    local i = find(s, "[\128-\255]")
    if not i then return true end
    local n = #s
    while i <= n do
        local c = byte(s, i)
        if c < 0x80 then
            i = i + 1
        else
            local len, lo, hi
            if c >= 0xC2 and c <= 0xDF then len, lo, hi = 2, 0x80, 0xBF
            elseif c == 0xE0 then len, lo, hi = 3, 0xA0, 0xBF
            elseif c == 0xED then len, lo, hi = 3, 0x80, 0x9F
            elseif c >= 0xE1 and c <= 0xEF then len, lo, hi = 3, 0x80, 0xBF
            elseif c == 0xF0 then len, lo, hi = 4, 0x90, 0xBF
            elseif c >= 0xF1 and c <= 0xF3 then len, lo, hi = 4, 0x80, 0xBF
            elseif c == 0xF4 then len, lo, hi = 4, 0x80, 0x8F
            else return false end
            -- The second byte's range rules out overlong forms, surrogates and code points past U+10FFFF.
            local c2 = byte(s, i + 1)
            if not c2 or c2 < lo or c2 > hi then return false end
            for k = i + 2, i + len - 1 do
                local ck = byte(s, k)
                if not ck or ck < 0x80 or ck > 0xBF then return false end
            end
            i = i + len
        end
    end
    return true
end

-- A fresh masking key or handshake nonce: `n` unpredictable bytes.
function _M.random_bytes(n)
    local out = {}
    for i = 1, n do out[i] = char(floor(math.random() * 256)) end
    return concat(out)
end

return _M
