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

-- request and batch read the common bodies on a fast path and leave the rest to a general scanner, which is
-- the reference: on any body, in both modes, they answer exactly as it does (and what it recognizes, the full
-- parser reads the same way: the tests above).
local function same_as_general(body)
    for _, controls in ipairs({ false, true }) do
        local m1, h1 = scan.request(body, controls)
        local m2, h2 = scan.general_request(body, controls)
        if m1 ~= m2 or h1 ~= h2 then
            error(string.format("request (controls %s): %s/%s, general %s/%s: %q", tostring(controls), tostring(m1), tostring(h1),
                tostring(m2), tostring(h2), body), 2)
        end
    end
end

local function batch_same_as_general(body, max)
    max = max or 10
    for _, controls in ipairs({ false, true }) do
        local out1, out2 = {}, {}
        local n1 = scan.batch(body, max, out1, controls)
        local n2 = scan.general_batch(body, max, out2, controls)
        if n1 ~= n2 then
            error(string.format("batch (controls %s, max %d): %s, general %s: %q", tostring(controls), max, tostring(n1), tostring(n2), body), 2)
        end
        for k = 1, n1 or 0 do
            if out1[k] ~= out2[k] then error(string.format("batch method %d: %s, general %s: %q", k, out1[k], out2[k], body), 2) end
        end
    end
end

-- Both checks, and the full parser's agreement, on a request and on batches made of it.
local function check_all(body)
    same_as_general(body)
    local ok, _, why = agrees(body)
    if not ok then error(why .. ": " .. body, 2) end
    for _, b in ipairs({ "[" .. body .. "]", "[" .. body .. "," .. body .. "]" }) do
        batch_same_as_general(b)
        for _, controls in ipairs({ false, true }) do
            local ok2, _, why2 = batch_agrees(b, controls)
            if not ok2 then error(why2 .. ": " .. b, 2) end
        end
    end
end

local ADDRESS = "0x00000000000000000000000000000000000000aa"
local SHAPES = {
    '{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["' .. ADDRESS .. '","latest"]}',
    '{"method":"eth_chainId","params":[],"id":42,"jsonrpc":"2.0"}',
    '{"jsonrpc": "2.0", "method": "eth_call", "params": [{"to": "' .. ADDRESS .. '", "data": "0x70a08231"}, "latest"], "id": 17}',
    '{\n  "jsonrpc": "2.0",\n  "id": "a\\"b",\n  "method": "eth_getLogs",\n  "params": [\n    {"topics": [["0x1"], null]}\n  ]\n}',
    '{"jsonrpc":"2.0","method":"eth_subscribe","params":["newHeads"]}',
    '{"jsonrpc":"2.0","id":null,"method":"m","params":{"a":1,"b":[true,false,null],"c":"\\u00e9"}}',
    '{"jsonrpc":"2.0","id":-123456789012345,"method":"eth_blockNumber"}',
}

T.test("fast path: the same answer as the general scanner on generated bodies and batches", function()
    math.randomseed(20261207)
    for round = 1, 20000 do same_as_general(generate(round)) end
    for round = 1, 5000 do
        local parts = {}
        for k = 1, math.random(1, 6) do parts[k] = generate(round * 5 + k) end
        local body = "[" .. table.concat(parts, ",") .. "]"
        batch_same_as_general(body, math.random(1, 6))
    end
end)

T.test("fast path: every truncation of a request and of a batch", function()
    for _, body in ipairs(SHAPES) do
        local batch = "[" .. body .. "," .. body .. "]"
        for cut = 0, #body do same_as_general(body:sub(1, cut)) end
        for cut = 0, #batch do batch_same_as_general(batch:sub(1, cut)) end
        T.truthy(scan.request(body, true), body)
        T.eq(scan.batch(batch, 10, {}, true), 2, batch)
    end
end)

T.test("fast path: the last tokens at every distance from the end of the body", function()
    for _, body in ipairs(SHAPES) do
        for pad = 0, 40 do
            local sp = string.rep(" ", pad)
            check_all(body .. sp)
            check_all(sp .. body)
            T.truthy(scan.request(body .. sp, true), pad)
            T.eq(scan.batch("[" .. body .. sp .. "]" .. sp, 10, {}, true), 1, pad)
        end
        -- A batch cut after each element.
        local elements = {}
        for k = 1, 6 do
            elements[k] = body
            batch_same_as_general("[" .. table.concat(elements, ",") .. "]")
        end
    end
end)

T.test("fast path: whitespace runs of every length between tokens", function()
    local tokens = { "{", '"jsonrpc"', ":", '"2.0"', ",", '"id"', ":", "7", ",", '"method"', ":", '"m"', ",", '"params"', ":", "[",
        '"a"', ",", "1", ",", "{", '"k"', ":", "true", "}", "]", "}" }
    for _, run in ipairs({ " ", "\n", "\t", "\r\n", " \t\n\r" }) do
        for n = 0, 40, 3 do
            local gap = string.rep(run, n):sub(1, n)
            for at = 1, #tokens do
                local t = {}
                for k, tok in ipairs(tokens) do t[k] = k == at and gap .. tok .. gap or tok end
                local body = table.concat(t)
                T.eq(scan.request(body), "m", body)
                check_all(body)
            end
        end
    end
    -- Whitespace that is not JSON's.
    for _, c in ipairs({ "\11", "\12", "\0", "\160" }) do
        T.eq(scan.request('{"jsonrpc":"2.0",' .. c .. '"method":"m"}', true), nil, c)
        check_all('{"jsonrpc":"2.0",' .. c .. '"method":"m"}')
    end
end)

T.test("fast path: escaped quotes and unicode escapes in method names, ids and params", function()
    local recognized = {
        '{"jsonrpc":"2.0","id":"a\\"b","method":"m"}', '{"jsonrpc":"2.0","id":1,"method":"m","params":["a\\"b","\\\\"]}',
        '{"jsonrpc":"2.0","id":1,"method":"m","params":["\\u00e9\\u0041"]}', '{"jsonrpc":"2.0","id":1,"method":"m","params":[{"\\"":"\\/"}]}',
        '{"jsonrpc":"2.0","id":1,"method":"m","params":["a\\"],\\"b"]}',
    }
    for _, b in ipairs(recognized) do
        T.eq(scan.request(b), "m", b)
        T.eq(scan.request(b, true), "m", b)
        check_all(b)
    end
    local refused = {
        '{"jsonrpc":"2.0","id":1,"method":"eth\\"call"}', '{"jsonrpc":"2.0","id":1,"method":"eth_\\u0063all"}',
        '{"jsonrpc":"2.0","id":1,"method":"m","params":["\\ud83d\\ude00"]}', '{"jsonrpc":"2.0","id":1,"method":"m","params":["\\ud800"]}',
        '{"jsonrpc":"2.0","id":1,"method":"m","params":["\\x"]}', '{"jsonrpc":"2.0","id":1,"method":"m","params":["\\u12"]}',
        '{"jsonrpc":"2.0","id":1,"method":"m","params":["\\u00e9"],"\\u0069d":2}', '{"jsonrpc":"2.0","i\\u0064":1,"method":"m"}',
    }
    for _, b in ipairs(refused) do
        T.eq(scan.request(b), nil, b)
        T.eq(scan.request(b, true), nil, b)
        check_all(b)
    end
end)

T.test("fast path: params nested to every depth, and arrays and objects of every size", function()
    local head = '{"jsonrpc":"2.0","id":1,"method":"m","params":'
    for depth = 1, 70 do
        local b = head .. string.rep("[", depth) .. string.rep("]", depth) .. "}"
        T.eq(scan.request(b), depth <= 64 and "m" or nil, depth)
        check_all(b)
    end
    for n = 0, 15 do
        local members, elements = {}, {}
        for k = 1, n do
            members[k] = '"k' .. k .. '":' .. ({ '"v"', "1", "true", "null", "-2.5e3" })[k % 5 + 1]
            elements[k] = ({ '"x"', "0", "false", "{}", '{"a":1}' })[k % 5 + 1]
        end
        local object = "{" .. table.concat(members, ",") .. "}"
        local list = "[" .. table.concat(elements, ",") .. "]"
        for _, params in ipairs({ object, "[" .. object .. "]", "[" .. object .. ',"latest"]', list, "[" .. list .. "]", "[[" .. list .. "]]",
            '[{"a":' .. object .. "}]", '[{"a":' .. list .. "}]", '[{"a":[' .. list .. "]}]", '[{"a":[[' .. list .. "]]}]" }) do
            local b = head .. params .. "}"
            T.eq(scan.request(b), (n > 0 or params ~= "[[]]") and "m" or "m", params)
            check_all(b)
        end
    end
end)

T.test("fast path: method names of every length, and changing from one name to the next", function()
    local names = {}
    for len = 1, 40 do names[#names + 1] = string.rep("m", len - 1) .. "x" end
    for len = 125, 131 do names[#names + 1] = string.rep("n", len) end
    for _, m in ipairs({ "eth_call", "eth_callx", "eth_cal", "eth_call ", "x\127\128\255" }) do names[#names + 1] = m end
    for round = 1, 2 do
        for k, m in ipairs(names) do
            local other = names[(k * 7) % #names + 1]
            local b = '{"jsonrpc":"2.0","id":1,"method":"' .. m .. '"}'
            T.eq(scan.request(b, round == 1), #m <= 128 and m or nil, m)
            check_all(b)
            local out = {}
            local batch = "[" .. b .. ',{"jsonrpc":"2.0","method":"' .. other .. '"},' .. b .. "]"
            local n = scan.batch(batch, 10, out, true)
            if #m <= 128 and #other <= 128 then
                T.eq(n, 3, batch)
                T.eq(out[1], m)
                T.eq(out[2], other)
                T.eq(out[3], m)
            else
                T.eq(n, nil, batch)
            end
            batch_same_as_general(batch)
        end
    end
    T.eq(scan.request('{"jsonrpc":"2.0","id":1,"method":"m\tx"}', true), nil)
end)

T.test("fast path: ids of every length and form, anywhere in the object", function()
    local ids = { "0", "-0", "00", "01", "-01", "0.5", "1.", "1e5", "1E5", "-", "+1", "0x1", "nul", "null", '"x"', "true", "[]" }
    for n = 1, 20 do
        ids[#ids + 1] = string.rep("9", n)
        ids[#ids + 1] = "-1" .. string.rep("0", n - 1)
    end
    for _, id in ipairs(ids) do
        local digits = #id:gsub("^%-", "")
        local plain = id:match("^%-?[1-9]%d*$") and digits <= 15 or id == "0" or id == "-0" or id == "null" or id == '"x"'
        for _, b in ipairs({
            '{"jsonrpc":"2.0","method":"m","id":' .. id .. "}", '{"id":' .. id .. ',"jsonrpc":"2.0","method":"m"}',
            '{"id":' .. id .. ' ,"jsonrpc":"2.0","method":"m"}', '{"id": ' .. id .. '\n,"jsonrpc":"2.0","method":"m","params":[]}',
        }) do
            T.eq(scan.request(b, true), plain and "m" or nil, b)
            check_all(b)
        end
    end
end)

T.test("fast path: raw control characters and NUL at every position of a string, both modes", function()
    for len = 0, 20 do
        for at = 1, len + 1 do
            for _, c in ipairs({ "\1", "\t", "\31", "\0", "\127", "\255", '"', "\\" }) do
                local str = string.rep("a", at - 1) .. c .. string.rep("a", len - at + 1)
                for _, tail in ipairs({ "", ',"\\n"' }) do
                    local b = '{"jsonrpc":"2.0","id":1,"method":"m","params":["' .. str .. '"' .. tail .. "]}"
                    check_all(b)
                    local control = c == "\1" or c == "\t" or c == "\31"
                    if control then
                        T.eq(scan.request(b), nil, b)
                        T.eq(scan.request(b, true), tail == "" and "m" or nil, b)
                    elseif c == "\0" then
                        T.eq(scan.request(b, true), nil, b)
                    elseif c == "\127" or c == "\255" then
                        T.eq(scan.request(b), "m", b)
                    end
                end
            end
        end
    end
end)

T.test("fast path: batches of every size against every limit", function()
    local el = '{"jsonrpc":"2.0","id":1,"method":"m","params":["latest"]}'
    for n = 0, 12 do
        local b = "[" .. string.rep(el .. ",", n):sub(1, -2) .. "]"
        for max = 0, 12 do
            local got = scan.batch(b, max, {}, true)
            T.eq(got, (n >= 1 and n <= max) and n or nil, n .. "/" .. max)
            batch_same_as_general(b, max)
        end
    end
end)

T.test("fast path: many bodies in a row, whatever came before", function()
    math.randomseed(20261208)
    local bodies = {}
    for _, body in ipairs(SHAPES) do
        bodies[#bodies + 1] = body
        bodies[#bodies + 1] = "[" .. body .. "]"
    end
    for k = 1, 200 do bodies[#bodies + 1] = generate(k) end
    -- Enough turns for LuaJIT to compile the fast path, in an order that changes what the last method was.
    for _ = 1, 3000 do
        local body = bodies[math.random(#bodies)]
        same_as_general(body)
        batch_same_as_general(body)
    end
end)

T.test("fast path: members in every number, order and repetition, compact and spaced", function()
    local MEMBERS = { '"jsonrpc":"2.0"', '"id":3', '"method":"m"', '"params":["x"]', '"extra":1', '"jsonrpc":"2.1"', '"id":[]' }
    local function each(prefix, depth)
        if depth == 0 then return end
        for _, m in ipairs(MEMBERS) do
            local list = prefix == "" and m or prefix .. "," .. m
            check_all("{" .. list .. "}")
            check_all("{ " .. list:gsub(",", " , "):gsub('":', '" : ') .. " }")
            each(list, depth - 1)
        end
    end
    each("", 4)
    -- A repeated member is refused wherever it is.
    for _, m in ipairs({ '"jsonrpc":"2.0"', '"id":3', '"method":"m"', '"params":[]' }) do
        local base = '{"jsonrpc":"2.0","method":"m",' .. m .. "," .. m .. "}"
        T.eq(scan.request(base, true), nil, base)
        T.eq(scan.request('{"jsonrpc":"2.0",' .. m .. ',"jsonrpc":"2.0",' .. m .. ',"method":"m"}', true), nil, m)
    end
    T.eq(scan.request('{"jsonrpc":"2.0","jsonrpc":"2.0","jsonrpc":"2.0","method":"m"}', true), nil)
end)

T.test("fast path: malformed near-misses of the common layout", function()
    local head = '{"jsonrpc":"2.0","id":1,"method":"m",'
    for _, b in ipairs({
        head .. '"params":[}}', head .. '"params":{]}', head .. '"params":[1,2,3,4,}', head .. '"params":[1,2,3,4,]}',
        head .. '"params":[1,2,3,4,5,}', head .. '"params":[{"a":1,}]}', head .. '"params":[{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,'
            .. '"h":8,"i":9,"j":10,"k":11,"l":12,}]}',
        '{"jsonrpc":"2.0x,"method":"m"}', '{"jsonrpc":"2.0 ","method":"m"}', '{"jsonrpc":"2.00","method":"m"}',
        '{"jsonrpc":"2.0"x,"method":"m"}', '{"jsonrpc":"2.0","method":"m"x}', '{"jsonrpc":"2.0","method":"m","id":1x}',
        '{"jsonrpc":"2.0","method":"m","id":1.5}', '{"jsonrpc":"2.0","method":"m","id":12e3}', '{"jsonrpc":"2.0","method":"m","id":0.}',
        '{"id":1,"jsonrpc":"2.0","method":"m"', '{"id":1,"jsonrpc":"2.0","method":"m"}}', '{"id":1,"jsonrpc":"2.0","method":"m",}',
        head .. '"params":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,}',
        head .. '"params":{"a":1,}', head .. '"params":{,}', head .. '"params":[,]',
    }) do
        T.eq(scan.request(b, true), nil, b)
        check_all(b)
    end
    -- The remembered method name, and a name one byte longer that a comma follows.
    for len = 1, 40 do
        local name = string.rep("a", len - 1) .. "z"
        -- Twice: the general scanner checks a new name, then the fast path remembers it.
        T.eq(scan.request('{"jsonrpc":"2.0","method":"' .. name .. '"}', true), name)
        T.eq(scan.request('{"jsonrpc":"2.0","method":"' .. name .. '"}', true), name)
        for _, extra in ipairs({ "X", "\\", "\t", " " }) do
            -- With and without room after it for the name's words.
            for _, more in ipairs({ "", ',"params":["' .. ADDRESS .. '"]' }) do
                local b = '{"method":"' .. name .. extra .. ',"jsonrpc":"2.0"' .. more .. "}"
                T.eq(scan.request(b, true), nil, b)
                check_all(b)
            end
        end
        T.eq(scan.request('{"method":"' .. name:sub(1, -2) .. '","jsonrpc":"2.0"}', true), len > 1 and name:sub(1, -2) or nil, name)
    end
    -- Leading whitespace before the body, of every length.
    local el = '{"jsonrpc":"2.0","id":1,"method":"m"}'
    for pad = 0, 40 do
        local sp = string.rep(pad % 2 == 0 and " " or "\n", pad)
        T.eq(scan.request(sp .. el, true), "m", pad)
        T.eq(scan.batch(sp .. "[" .. el .. "]", 10, {}, true), 1, pad)
        T.eq(scan.batch(sp .. "[" .. sp .. el .. sp .. "," .. sp .. el .. sp .. "]" .. sp, 10, {}, true), 2, pad)
    end
end)

T.test("fast path: reads the common bodies itself, without the general scanner", function()
    local A = ADDRESS
    local shapes = {
        '{"jsonrpc":"2.0","id":%d,"method":"eth_getBalance","params":["' .. A .. '","latest"]}',
        '{"jsonrpc": "2.0", "method": "eth_call", "params": [{"to": "' .. A .. '", "data": "0x70a08231"}, "latest"], "id": %d}',
        '{\n    "jsonrpc": "2.0",\n    "id": %d,\n    "method": "eth_getBlockByNumber",\n    "params": [\n      "0x1b4",\n      true\n    ]\n  }',
        '{"method":"eth_chainId","params":[],"id":%d,"jsonrpc":"2.0"}',
        '{"jsonrpc":"2.0","id":"req-%d","method":"eth_getTransactionReceipt","params":["0x' .. string.rep("ab", 32) .. '"]}',
        '{"id":%d,"jsonrpc":"2.0","method":"eth_estimateGas","params":[{"from":"' .. A .. '","to":"' .. A .. '","value":"0x1"}]}',
        '{"jsonrpc":"2.0","id":%d,"method":"eth_getLogs","params":[{"fromBlock":"0x1","address":["' .. A .. '"],"topics":[["0x2","0x3"],null]}]}',
        '{"jsonrpc":"2.0","id":%d,"method":"eth_feeHistory","params":[4,"latest",[25,75]]}',
    }
    for _, controls in ipairs({ true, false }) do
        -- The first time, a method name is the general scanner's to check; then the fast path knows it.
        for _, shape in ipairs(shapes) do scan.request(shape:format(1), controls) end
        for _, shape in ipairs(shapes) do
            local parts = {}
            -- Strictly, a body with a control character anywhere, newlines between tokens too, has each of its
            -- strings checked byte by byte: the general scanner's.
            local expected = (controls or not shape:find("\n")) or nil
            for id = 1, 12 do
                local body = shape:format(id * 997)
                T.eq(scan.fast_request(body, controls) and true, expected, body)
                parts[id] = body
            end
            local batch = "[" .. table.concat(parts, ",") .. "]"
            T.eq(scan.fast_batch(batch, 20, {}, controls), expected and 12, batch)
            -- Methods that change from one element to the next.
            T.eq(scan.fast_batch("[" .. shapes[1]:format(1) .. "," .. shapes[4]:format(2) .. "," .. shapes[1]:format(3) .. "]", 20, {}, controls), 3)
        end
    end
    -- What it leaves to the general scanner: no object (certainly nothing), or a shape it does not read.
    T.eq(scan.fast_request("[1]", true), false)
    T.eq(scan.fast_batch("{}", 10, {}, true), false)
    T.eq(scan.fast_request('{"jsonrpc":"2.0","id":1,"method":"m","params":[[["x"]]]}', true), nil)
    T.eq(scan.fast_request(string.rep(" ", 17) .. '{"jsonrpc":"2.0","id":1,"method":"m"}', true), nil)
    T.eq(scan.fast_request('{"jsonrpc":"2.0","id":1,"method":"m","params":["a\\nb"]}', true), nil)
end)
