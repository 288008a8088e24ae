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

T.test("an empty body is a parse error, an empty batch is invalid", function()
    T.eq(select(2, jsonrpc.parse("", 10)), -32700)
    T.eq(select(2, jsonrpc.parse("   ", 10)), -32700)
    local _, code, msg = jsonrpc.parse("[]", 10)
    T.eq(code, -32600)
    T.eq(msg, "empty batch")
end)

T.test("what JSON cannot hold is a parse error: NaN, Infinity, hex, a number out of range", function()
    for _, body in ipairs({ "NaN", "Infinity", "-Infinity", "[NaN]", "0x1",
        '{"jsonrpc":"2.0","id":NaN,"method":"m"}', '{"jsonrpc":"2.0","id":0x10,"method":"m"}' }) do
        T.eq(select(2, jsonrpc.parse(body, 10)), -32700, body)
    end
    for _, id in ipairs({ "1e400", "-1e400" }) do
        local p, code, msg, echoed = jsonrpc.parse('{"jsonrpc":"2.0","id":' .. id .. ',"method":"m"}', 10)
        T.eq(p, nil)
        T.eq(code, -32700, id)
        T.eq(msg, "number out of range")
        T.eq(echoed, jsonrpc.null)
    end
    local items = jsonrpc.parse('[{"jsonrpc":"2.0","id":1e400,"method":"m"},{"jsonrpc":"2.0","id":2,"method":"m"}]', 10)
    T.eq(items[1].code, -32700)
    T.truthy(items[2].req)
end)

T.test("a batch over the limit names the limit", function()
    local parts = {}
    for i = 1, 11 do parts[i] = string.format('{"jsonrpc":"2.0","id":%d,"method":"eth_chainId"}', i) end
    local _, code, msg = jsonrpc.parse("[" .. table.concat(parts, ",") .. "]", 10)
    T.eq(code, -32600)
    T.eq(msg, "batch of 11 requests exceeds the limit of 10")
end)

T.test("a batch validates each element on its own", function()
    local items, batch = jsonrpc.parse('[{"jsonrpc":"2.0","id":1,"method":"a"}, 5, {"jsonrpc":"2.0","method":"b"}]', 10)
    T.eq(batch, true)
    T.truthy(items[1].req)
    T.eq(items[2].code, -32600)
    T.eq(items[3].req.id, nil) -- a notification: no id member at all
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

T.test("splices a batch's answers back in request order, by id", function()
    local items = assert(jsonrpc.parse('[{"jsonrpc":"2.0","id":"a","method":"x"},{"jsonrpc":"2.0","id":2,"method":"admin_y"},'
        .. '{"jsonrpc":"2.0","method":"note"},{"jsonrpc":"2.0","id":2,"method":"z"},{"jsonrpc":"2.0","id":"2","method":"w"}]', 10))
    local answers = { [2] = { id = 2, error = { code = -32601 } } }
    -- The backend answers in its own order; numeric 2 and string "2" are different ids.
    local upstream = { { id = "2", result = "w" }, { id = 2, result = "z" }, { id = "a", result = "x" }, { id = jsonrpc.null, error = {} } }
    local out = jsonrpc.splice(items, answers, upstream)
    local got = {}
    for i, r in ipairs(out) do got[i] = tostring(r.result or (r.error and r.error.code) or "null-id error") end
    T.eq(table.concat(got, ","), "x,-32601,z,w,null-id error")
end)

T.test("splice_raw: local answers around the element's own id bytes, the backend's answers untouched, in order", function()
    local scan = require("ethnode.scan")
    local body = '[{"jsonrpc":"2.0","id":12345678901234567890,"method":"a"},'
        .. '{"jsonrpc":"2.0","id":"x","method":"b","params":[[]]},{"jsonrpc":"2.0","method":"n"}]'
    local items = jsonrpc.parse(body, 10)
    local raw = scan.elements(body)
    local answers = { [1] = jsonrpc.error_object(items[1].req.id, -32601, "method not allowed: a") }
    local upstream = scan.elements('[{"jsonrpc":"2.0","id":"x","result":{"logs":[],"n":1e2}}]')
    local out = jsonrpc.splice_raw(items, raw, answers, upstream, scan.raw_id)
    T.eq(#out, 2)
    T.eq(out[1], '{"jsonrpc":"2.0","id":12345678901234567890,"error":{"code":-32601,"message":"method not allowed: a"}}')
    T.eq(out[2], '{"jsonrpc":"2.0","id":"x","result":{"logs":[],"n":1e2}}')
end)
