local T = ...
local scan = require("ethnode.scan")
local jsonrpc = require("ethnode.jsonrpc")
local cjson = require("cjson.safe")

-- The scanner's one promise: whatever it recognizes, the full parser reads the same way; and what it
-- recognizes strictly (raw control characters not taken) is one RFC 8259 value, as Geth's decoder wants.
local function agrees_in(body, controls)
    local method, has_id = scan.request(body, controls)
    if not method then return true, false end
    local req, batch = jsonrpc.parse(body, 100)
    if not req or batch then return false, true, "full parser refused it" end
    if req.method ~= method then return false, true, "method " .. tostring(req.method) end
    if (req.id ~= nil) ~= has_id then return false, true, "id presence" end
    if not controls and not scan.json(body) then return false, true, "not strict JSON" end
    return true, true
end

local function agrees(body)
    local ok, seen, why = agrees_in(body, false)
    if not ok then return ok, seen, "strict: " .. why end
    local ok2, seen2, why2 = agrees_in(body, true)
    if not ok2 then return ok2, seen2, "controls taken: " .. why2 end
    -- Taking raw control characters can only recognize more.
    if seen and not seen2 then return false, true, "recognized strictly only" end
    return true, seen2
end

T.test("recognizes plain requests, with any params and ids", function()
    for _, b in ipairs({
        '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}',
        ' {"method" : "eth_getBalance", "params":["0xab", "latest"], "id":"x", "jsonrpc":"2.0"}\n',
        '{"jsonrpc":"2.0","id":null,"method":"eth_call","params":[{"to":"0x1","data":"0x\\u0041"},"latest"]}',
        '{"jsonrpc":"2.0","id":-15,"method":"m","params":{"a":[true,false,null,[],{}]}}',
        '{"jsonrpc":"2.0","id":123456789012345,"method":"m"}',
    }) do
        T.truthy(scan.request(b), b)
        local ok, _, why = agrees(b)
        T.truthy(ok, why)
    end
    -- Params of scalars, up to four written out and more by the general loop; compact or spaced.
    for _, params in ipairs({ '["0xab"]', '[1,true,null,"x"]', '[ "a" , -1.5e3 , false ]', '[1,2,3,4,5]', '["x",[1]]',
        '[{"a":1},"latest"]', '[0,"",null]' }) do
        local b = '{"jsonrpc":"2.0","id":1,"method":"m","params":' .. params .. "}"
        T.eq(scan.request(b), "m", b)
        T.eq(scan.request(b, true), "m", b)
    end
    local m, has_id = scan.request('{"jsonrpc":"2.0","method":"eth_subscribe","params":[]}')
    T.eq(m, "eth_subscribe")
    T.eq(has_id, false)
end)

T.test("raw control characters in strings: refused strictly, taken when the caller takes them", function()
    for _, b in ipairs({
        '{"jsonrpc":"2.0","id":1,"method":"m","params":["a\tb"]}', '{"jsonrpc":"2.0","id":1,"method":"m","params":["\127\31"]}',
        '{"jsonrpc":"2.0","id":"\31","method":"m","params":[{"k":"\1"}]}',
    }) do
        T.eq(scan.request(b), nil, b)
        T.eq(scan.request(b, true), "m", b)
        T.eq(scan.batch("[" .. b .. "]", 10, {}), nil, b)
        T.eq(scan.batch("[" .. b .. "]", 10, {}, true), 1, b)
    end
    -- The method stays strict either way, and so does a string with an escape in the same body.
    for _, b in ipairs({
        '{"jsonrpc":"2.0","id":1,"method":"m\tx"}', '{"jsonrpc":"2.0","id":1,"method":"m","params":["\\n","a\tb"]}',
        '{"jsonrpc":"2.0","id":1,"method":"m","params":["a\0b"]}', -- cjson refuses a raw NUL',
    }) do
        T.eq(scan.request(b, true), nil, b)
    end
    -- Whitespace between tokens is no string's.
    T.eq(scan.request('{\n\t"jsonrpc":"2.0",\r\n"id":1,"method":"m","params":[\n"a"\n]}'), "m")
end)

T.test("plain_bytes: no byte below 32 and no backslash, wherever it sits in the word", function()
    for n = 0, 24 do
        local s = string.rep("a", n)
        T.eq(scan.plain_bytes(s), true, n)
        for at = 1, n do
            for _, c in ipairs({ "\0", "\1", "\31", "\\" }) do
                local bad = s:sub(1, at - 1) .. c .. s:sub(at + 1)
                T.eq(scan.plain_bytes(bad), false, n .. "@" .. at)
            end
            for _, c in ipairs({ " ", "\127", "\128", "\255", "]", "]" }) do
                T.eq(scan.plain_bytes(s:sub(1, at - 1) .. c .. s:sub(at + 1)), true, n .. "@" .. at)
            end
        end
    end
end)

T.test("leaves everything unusual to the full parser", function()
    for _, b in ipairs({
        "", " ", "[]", '[{"jsonrpc":"2.0","id":1,"method":"a"}]', "{}", "null", '"x"',
        '{"jsonrpc":"2.0","id":1,"method":"eth_x","params":[}',
        '{"jsonrpc":"2.0","id":1,"method":"eth_x","params":[]}x',
        '{"jsonrpc":"2.0","id":1,"method":"eth_x","method":"admin_peers"}', -- duplicate member
        -- ids a double may not hold exactly, or at all: the full parser refuses the non-finite ones
        '{"jsonrpc":"2.0","id":-1.5e+3,"method":"m"}', '{"jsonrpc":"2.0","id":1e400,"method":"m"}',
        '{"jsonrpc":"2.0","id":1234567890123456,"method":"m"}', '{"jsonrpc":"2.0","id":0.5,"method":"m"}',
        '{"jsonrpc":"2.0","id":007,"method":"m"}',
        '{"jsonrpc":"2.0","id":1,"method":"\\u0061dmin_peers"}', -- escape in the method
        '{"jsonrpc":"2.0","id":1,"METHOD":"admin_peers","method":"eth_x"}', -- another member
        '{"jsonrpc":"2.0","id":01,"method":"eth_x"}', '{"jsonrpc":"2.0","id":true,"method":"eth_x"}',
        '{"jsonrpc":"2.0","id":{},"method":"eth_x"}', '{"jsonrpc":"1.0","id":1,"method":"eth_x"}',
        '{"jsonrpc":"2.0","id":1,"method":""}', '{"jsonrpc":"2.0","id":1,"method":5}',
        '{"jsonrpc":"2.0","id":1,"method":"m","params":"x"}', '{"jsonrpc":"2.0","id":1,"method":"m","params":[1,]}',
        '{"jsonrpc":"2.0","id":1,"method":"m","params":[NaN]}', '{"jsonrpc":"2.0","id":1,"method":"m","params":[0x10]}',
        '{"jsonrpc":"2.0","id":1,"method":"m","params":["a\tb"]}', '{"jsonrpc":"2.0","id":1}',
        '{"jsonrpc":"2.0","id":1,"method":"' .. string.rep("a", 129) .. '"}',
        '{"jsonrpc":"2.0","id":1,"method":"m","params":' .. string.rep("[", 100) .. string.rep("]", 100) .. "}",
    }) do
        T.eq(scan.request(b), nil, b)
    end
end)

-- Bodies built from pieces that are valid, almost valid and hostile, then mutated byte by byte.
local PIECES = {
    '"jsonrpc":"2.0"', '"jsonrpc":"2.1"', '"id":1', '"id":"a\\"b"', '"id":null', '"id":-0.5e-2', '"id":[1]',
    '"method":"eth_call"', '"method":"eth\\u005fcall"', '"method":"admin_peers"', '"params":[]', '"params":{}',
    '"params":[1,"x",{"a":[null,true,false]}]', '"params":[{"k":"v\\n"}]', '"params":[1e400]', '"extra":1',
    '"params":[[[[[[]]]]]]', '"id":1.', '"id":.5', '"params":["\\ud800"]', '"params":[-]', '"params":[1 2]',
}
local BYTES = { "{", "}", "[", "]", ",", ":", '"', "\\", " ", "\n", "0", "1", "-", "e", "n", "t", "\0", "\255", "\t", "\1" }

local VALID = {
    ids = { '"id":1', '"id":"a\\"b"', '"id":null', '"id":-0.5e-2', '"id":123456789012345678901234567890' },
    methods = { '"method":"eth_call"', '"method":"admin_peers"', '"method":"m"' },
    params = { '"params":[]', '"params":{}', '"params":[1,"x",{"a":[null,true,false]}]', '"params":[{"k":"v\\n"}]',
        '"params":[[[[[[]]]]]]', '"params":["\\ud83d\\ude00"]', '"params":[1e400]', '"params":[" \\/ "]',
        '"params":["0xab","latest"]', '"params":[1,true,null,"x"]', '"params":[1,2,3,4,5]', '"params":["a\tb"]' },
}

local function shuffle(t)
    for i = #t, 2, -1 do
        local j = math.random(i)
        t[i], t[j] = t[j], t[i]
    end
    return t
end

-- A request made of valid members in any order, sometimes with one more piece, sometimes mutated.
local function generate(round)
    local parts = { '"jsonrpc":"2.0"', VALID.methods[math.random(#VALID.methods)] }
    if math.random() < 0.8 then parts[#parts + 1] = VALID.ids[math.random(#VALID.ids)] end
    if math.random() < 0.8 then parts[#parts + 1] = VALID.params[math.random(#VALID.params)] end
    if math.random() < 0.3 then parts[#parts + 1] = PIECES[math.random(#PIECES)] end
    local body = "{" .. table.concat(shuffle(parts), math.random() < 0.95 and "," or " ") .. "}"
    if round % 3 == 0 then
        for _ = 1, math.random(1, 3) do
            local at = math.random(1, #body)
            local r = math.random(3)
            local b = BYTES[math.random(#BYTES)]
            if r == 1 then
                body = body:sub(1, at - 1) .. b .. body:sub(at + 1)
            elseif r == 2 then
                body = body:sub(1, at - 1) .. b .. body:sub(at)
            else
                body = body:sub(1, at - 1) .. body:sub(at + 1)
            end
        end
    end
    return body
end

T.test("agrees with the full parser on 20000 generated bodies", function()
    math.randomseed(20261122)
    local recognized, refused = 0, 0
    for round = 1, 20000 do
        local body = generate(round)
        local ok, seen, why = agrees(body)
        if not ok then error(why .. ": " .. body) end
        if seen then recognized = recognized + 1 else refused = refused + 1 end
    end
    -- Both sides must be reached often, or the comparison proves little.
    T.truthy(recognized > 5000, "recognized " .. recognized)
    T.truthy(refused > 5000, "left to the full parser " .. refused)
end)

-- A batch the scanner reads is one the full parser reads as the same requests, in both modes.
local function batch_agrees(body, controls)
    local out = {}
    local n = scan.batch(body, 10, out, controls)
    if not n then return true, false end
    local items, batch = jsonrpc.parse(body, 10)
    if not items or not batch then return false, true, "full parser refused it" end
    if #items ~= n then return false, true, "count " .. #items end
    for i = 1, n do
        if not items[i].req then return false, true, "element " .. i .. " invalid" end
        if items[i].req.method ~= out[i] then return false, true, "method " .. i end
    end
    if not controls and not scan.json(body) then return false, true, "not strict JSON" end
    return true, true
end

T.test("batch agrees with the full parser on 5000 generated batches", function()
    math.randomseed(20261206)
    local recognized, refused = 0, 0
    for round = 1, 5000 do
        local parts = {}
        for k = 1, math.random(1, 4) do parts[k] = generate(round * 7 + k) end
        local body = "[" .. table.concat(parts, ",") .. "]"
        for _, controls in ipairs({ false, true }) do
            local ok, seen, why = batch_agrees(body, controls)
            if not ok then error(why .. ": " .. body) end
            if seen then recognized = recognized + 1 else refused = refused + 1 end
        end
    end
    T.truthy(recognized > 500, "recognized " .. recognized)
    T.truthy(refused > 1000, "left to the full parser " .. refused)
end)

T.test("recognizes what cjson encodes for ordinary calls", function()
    math.randomseed(7)
    for i = 1, 2000 do
        local params = { "0x" .. string.format("%x", math.random(1, 1e9)), { to = "0xab", data = "/x\"y", n = i * 1.5 }, math.random() < 0.5 }
        local body = cjson.encode({ jsonrpc = "2.0", id = i, method = "eth_call", params = params })
        T.eq(scan.request(body), "eth_call", body)
    end
end)

T.test("raw_id: the id's exact bytes, whatever the members and their order", function()
    for _, c in ipairs({
        { '{"jsonrpc":"2.0","id":123456789012345678,"method":"m"}', "123456789012345678" },
        { '{"method":"m","params":[{"a":[1,{}]}],"id":-1.50e+3,"jsonrpc":"2.0"}', "-1.50e+3" },
        { '{"jsonrpc":"2.0","id":"\\u00e9\\"x","method":"m"}', '"\\u00e9\\"x"' },
        { '{"id":null,"method":"m"}', "null" },
        { '{"id":"\\ud83e\\udd84\\\\","method":"m"}', '"\\ud83e\\udd84\\\\"' }, -- a surrogate pair, an escaped backslash
        { '{"id":1,"id":"second","method":"m"}', '"second"' }, -- the last one counts, as for cjson
        { ' { "id" : 7 , "x" : [ ] } ', "7" },
    }) do
        T.eq(scan.raw_id(c[1]), c[2], c[1])
    end
    for _, b in ipairs({ '{"method":"m"}', "[]", '{"i\\u0064":1}', '{"id":1', '{"id":1}x', "" }) do
        T.eq(scan.raw_id(b), nil, b)
    end
end)

T.test("elements: each element of a top-level array, byte for byte", function()
    local els = scan.elements(' [ {"id":1e400,"a":[]} ,"x\\"y", 12345678901234567890 ,[[]],{}]\n')
    T.eq(#els, 5)
    T.eq(els[1], '{"id":1e400,"a":[]}')
    T.eq(els[2], '"x\\"y"')
    T.eq(els[3], "12345678901234567890")
    T.eq(els[4], "[[]]")
    T.eq(els[5], "{}")
    T.eq(#scan.elements("[]"), 0)
    for _, b in ipairs({ "", "{}", "[1,]", "[1 2]", "[1", "[1]x", "[,1]" }) do T.eq(scan.elements(b), nil, b) end
end)

T.test("json: exactly one RFC 8259 value, as strict as Go's decoder", function()
    local ok = {
        '{}', '[]', ' {"a":[1,-0,0.5,1e10,2E-3,true,false,null,"x"]} ', '"\\ud800"', '"\\u00e9\\n\\t\\"\\\\\\/"', '0',
        string.rep("[", 900) .. string.rep("]", 900), '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
    }
    for _, s in ipairs(ok) do T.eq(scan.json(s), true, s) end
    local bad = {
        "", " ", '{"a":"x\ty"}', '{"a":"\1"}', '"\\x"', '"\\u12"', "01", "1.", ".5", "+1", "-", "1e", "NaN", "Infinity", "0x1",
        "[1,]", '{"a":1,}', "{'a':1}", "[1] [2]", "tru", "nul", '{"a"}', '{"a":}', "[", '"abc',
        string.rep("[", 1001) .. string.rep("]", 1001),
    }
    for _, s in ipairs(bad) do T.eq(scan.json(s), false, s) end
end)

T.test("batch: the methods of a batch of plain requests, in order; anything else is the full parser's", function()
    local out = {}
    local r = '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}'
    local n = '{"jsonrpc":"2.0","method":"eth_blockNumber","params":[]}'
    T.eq(scan.batch("[" .. r .. "," .. n .. "]", 10, out), 2)
    T.eq(out[1], "eth_chainId")
    T.eq(out[2], "eth_blockNumber")
    T.eq(scan.batch(" [ " .. r .. " ] ", 10, out), 1)
    T.eq(scan.batch("[" .. r .. "," .. r .. "," .. r .. "]", 2, out), nil) -- past max
    local extra = '{"jsonrpc":"2.0","id":1,"method":"x","extra":1}'
    for _, bad in ipairs({ "[]", "[" .. r .. ",]", "[" .. r .. "]x", r, "[" .. r .. "," .. extra .. "]", "[1]", "[" .. r }) do
        T.eq(scan.batch(bad, 10, out), nil, bad)
    end
end)
