local T = ...
local wsframe = require("ethnode.wsframe")

-- A socket stand-in that hands out `chunks` one receiveany at a time, advancing a fake clock by `step`
-- seconds per read; past the last chunk it times out.
local function socket(chunks, clock, step)
    local s = { i = 1, buf = "" }
    function s:settimeouts() end
    function s:receiveany(max)
        if self.buf == "" then
            local c = chunks[self.i]
            if not c then return nil, "timeout" end
            self.i = self.i + 1
            self.buf = c
        end
        clock.t = clock.t + (step or 0)
        local out = self.buf:sub(1, max)
        self.buf = self.buf:sub(max + 1)
        return out
    end
    return s
end

local function read(bytes, opts)
    opts = opts or {}
    local clock = { t = 0 }
    local chunks = {}
    if opts.split then
        for i = 1, #bytes do chunks[i] = bytes:sub(i, i) end
    elseif bytes ~= "" then
        chunks[1] = bytes
    end
    local now = function() return clock.t end
    return wsframe.read(socket(chunks, clock, opts.step), opts.max or 1e9, 1000, opts.frame_sec or 10, now, 1000)
end

T.test("header lengths: 7-bit, 16-bit and 64-bit forms at their edges", function()
    T.eq(#wsframe.header(1, 125), 2)
    T.eq(#wsframe.header(1, 126), 4)
    T.eq(#wsframe.header(1, 65535), 4)
    T.eq(#wsframe.header(1, 65536), 10)
    T.eq(wsframe.header(1, 5), "\129\5")
    T.eq(wsframe.header(0, 5, false), "\0\5")
    T.eq(wsframe.header(2, 300), "\130\126\1\44")
    T.eq(wsframe.header(1, 70000), "\129\127\0\0\0\0\0\1\17\112")
end)

T.test("masking twice with the same key gives the payload back; the mask is per byte position", function()
    local key = "\1\2\3\4"
    local payload = string.rep("abcdefg", 1000)
    T.eq(wsframe.mask(wsframe.mask(payload, key), key), payload)
    T.eq(wsframe.mask("aaaa", key), string.char(96, 99, 98, 101))
    T.eq(wsframe.mask("", key), "")
end)

T.test("reads frames of every length form back, masked or not, raw bytes unchanged", function()
    for _, n in ipairs({ 0, 1, 125, 126, 65535, 65536, 100000 }) do
        local payload = string.rep("x", n)
        local f = read(wsframe.frame(wsframe.TEXT, payload))
        T.eq(f.opcode, wsframe.TEXT)
        T.eq(f.fin, true)
        T.eq(#f.payload, n, "length " .. n)
        local bytes = wsframe.masked_frame(wsframe.BINARY, payload, "\9\8\7\6")
        local m = read(bytes)
        T.eq(m.masked, true)
        T.eq(m.payload, payload)
        T.eq(m.raw, bytes)
    end
end)

T.test("a frame arriving a byte at a time within the deadline is read whole", function()
    local bytes = wsframe.masked_frame(wsframe.TEXT, "hello, world", "abcd")
    local f = read(bytes, { split = true, step = 0.01 })
    T.eq(f.payload, "hello, world")
end)

T.test("a frame trickled past its deadline is cut, however short each gap", function()
    local bytes = wsframe.masked_frame(wsframe.TEXT, string.rep("y", 200), "abcd")
    local f, err = read(bytes, { split = true, step = 0.1, frame_sec = 5 })
    T.eq(f, nil)
    T.eq(err, "cut")
end)

T.test("idle before a frame is a timeout the caller may retry", function()
    local f, err = read("")
    T.eq(f, nil)
    T.eq(err, "timeout")
end)

T.test("refuses a payload past the limit from its header alone", function()
    local f, err = read(wsframe.header(wsframe.TEXT, 5000000), { max = 1000 })
    T.eq(f, nil)
    T.eq(err, "too big")
end)

T.test("refuses reserved bits, unknown opcodes, fragmented or long control frames", function()
    for _, bytes in ipairs({ "\193\0", "\131\0", "\137\126\0\200", "\9\0", "\136\126\0\126" }) do
        local f, err = read(bytes)
        T.eq(f, nil)
        T.eq(err, "protocol")
    end
end)

T.test("close payloads carry their code", function()
    T.eq(wsframe.close_code(wsframe.close_payload(1009, "message too big")), 1009)
    T.eq(wsframe.close_code(""), 1005)
    T.eq(#wsframe.close_payload(1000, string.rep("r", 500)), 125)
end)

T.test("UTF-8: well-formed text passes; overlong forms, surrogates, stray and cut bytes do not", function()
    for _, ok in ipairs({ "", "plain", "é", "€", "𝄞", "\u{10FFFF}", "a\u{7FF}b\u{FFFF}c" }) do
        T.eq(wsframe.valid_utf8(ok), true, ok)
    end
    local malformed = { "\xc3\x28", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\x80", "abc\xe2\x82", "\xff" }
    for _, bad in ipairs(malformed) do
        T.eq(wsframe.valid_utf8(bad), false, bad)
    end
end)

T.test("close payloads a peer may send: empty, or a code in use and a UTF-8 reason", function()
    local function close(code, reason) return string.char(math.floor(code / 256), code % 256) .. (reason or "") end
    T.eq(wsframe.valid_close(""), true)
    for _, code in ipairs({ 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999 }) do
        T.eq(wsframe.valid_close(close(code, "bye")), true)
    end
    T.eq(wsframe.valid_close("\3"), false)
    for _, code in ipairs({ 0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535 }) do
        T.eq(wsframe.valid_close(close(code)), false)
    end
    T.eq(wsframe.valid_close(close(1000, "\255\254")), false)
end)
