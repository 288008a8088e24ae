local T = ...
local jsonrpc = require("ethnode.jsonrpc")

T.test("parses a single request", function()
    local req, batch = jsonrpc.parse('{"jsonrpc":"2.0","id":7,"method":"eth_chainId","params":[]}', 10)
    T.eq(batch, false)
    T.eq(req.method, "eth_chainId")
    T.eq(req.id, 7)
end)

T.test("malformed JSON is a parse error", function()
    local p, code = jsonrpc.parse('{"jsonrpc":"2.0",', 10)
    T.eq(p, nil)
    T.eq(code, -32700)
end)

T.test("wrong shapes are invalid requests", function()
    for _, body in ipairs({ '"x"', "42", "true", "null", '{"jsonrpc":"1.0","id":1,"method":"a"}',
        '{"jsonrpc":"2.0","id":1}', '{"jsonrpc":"2.0","id":1,"method":5}', '{"jsonrpc":"2.0","id":{},"method":"a"}',
        '{"jsonrpc":"2.0","id":1,"method":"a","params":"x"}', '{"jsonrpc":"2.0","id":1,"method":""}' }) do
        local p, code = jsonrpc.parse(body, 10)
        T.eq(p, nil, body)
        T.eq(code, -32600, body)
    end
end)

T.test("empty body and empty batch are invalid", function()
    T.eq(select(2, jsonrpc.parse("", 10)), -32600)
    T.eq(select(2, jsonrpc.parse("   ", 10)), -32600)
    local p, code, msg = jsonrpc.parse("[]", 10)
    T.eq(code, -32600)
    T.eq(msg, "empty batch")
end)

T.test("a batch over the limit names the limit", function()
    local parts = {}
    for i = 1, 11 do parts[i] = string.format('{"jsonrpc":"2.0","id":%d,"method":"eth_chainId"}', i) end
    local p, code, msg = jsonrpc.parse("[" .. table.concat(parts, ",") .. "]", 10)
    T.eq(code, -32600)
    T.eq(msg, "batch of 11 requests exceeds the limit of 10")
end)

T.test("a batch validates each element on its own", function()
    local items, batch = jsonrpc.parse('[{"jsonrpc":"2.0","id":1,"method":"a"}, 5, {"jsonrpc":"2.0","method":"b"}]', 10)
    T.eq(batch, true)
    T.truthy(items[1].req)
    T.eq(items[2].code, -32600)
    T.truthy(jsonrpc.is_notification(items[3].req))
end)

T.test("error objects echo the id, null when absent", function()
    local d = jsonrpc.decode(jsonrpc.encode_error(7, -32601, "m"))
    T.eq(d.jsonrpc, "2.0")
    T.eq(d.id, 7)
    T.eq(d.error.code, -32601)
    T.eq(d.error.message, "m")
    local e = jsonrpc.decode(jsonrpc.encode_error(nil, -32600, "m"))
    T.eq(e.id, jsonrpc.null)
end)

T.test("re-encoding drops empty params, keeps the rest", function()
    local req = assert(jsonrpc.parse('{"jsonrpc":"2.0","id":"a","method":"m","params":[]}', 10))
    T.eq(jsonrpc.decode(jsonrpc.encode_request(req)).params, nil)
    req = assert(jsonrpc.parse('{"jsonrpc":"2.0","id":"a","method":"m","params":["0x1",true]}', 10))
    T.eq(jsonrpc.decode(jsonrpc.encode_request(req)).params[2], true)
end)

T.test("deep nesting is refused, not crashed on", function()
    local p, code = jsonrpc.parse(string.rep("[", 5000) .. string.rep("]", 5000), 10)
    T.eq(p, nil)
    T.eq(code, -32700)
end)
