local T = ...
local pipeline = require("ethnode.pipeline")
local policy = require("ethnode.policy")
local limiter = require("ethnode.limiter")
local jsonrpc = require("ethnode.jsonrpc")

-- The pipeline with real policy and limiter on a stand-in dict, a stand-in pool and metrics: no nginx.
local function make(opts)
    opts = opts or {}
    local counted, warned, headers = {}, {}, {}
    local pool = {
        healthy = opts.healthy ~= false,
        refresh = function() end,
        any_healthy = function(self) return self.healthy end,
        pool_head = function() return opts.head or 1000 end,
    }
    local p = pipeline.new({
        policy = policy.new({ allow = { "eth_*", "net_*", "web3_*" }, weights = { eth_getLogs = 10 }, max_logs_range = 100 }),
        limiter = limiter.new(T.dict(), { fail_open = true }),
        pool = pool,
        metrics = { add = function(_, key, n) counted[key] = (counted[key] or 0) + n end },
        conf = { max_batch = 5, fail_open = true, rate_limit_headers_always = opts.always },
        warn = function(...) warned[#warned + 1] = table.concat({ ... }) end,
        limit_headers = function(burst, remaining, reset) headers[#headers + 1] = { burst, remaining, reset } end,
    })
    return p, { counted = counted, warned = warned, headers = headers, pool = pool }
end

local function call(method, id, params)
    return jsonrpc.encode({ jsonrpc = "2.0", id = id, method = method, params = params or {} })
end

T.test("a call the policy allows is a forward verdict: its label, idempotence and whether it is a cheap read", function()
    local p = make()
    local v = p.judge(call("eth_blockNumber", 1), "ip:a", 10, 10, 100, pipeline.HTTP)
    T.eq(v.forward, true)
    T.eq(v.label, "eth_blockNumber")
    T.eq(v.idempotent, true)
    T.eq(v.fast, true)
    T.eq(v.answer, nil)
    local send = p.judge(call("eth_sendRawTransaction", 2, { "0x00" }), "ip:a", 10, 10, 100, pipeline.HTTP)
    T.eq(send.forward, true)
    T.eq(send.idempotent, false)
end)

T.test("a refusal is answered here with its id, costs a unit, and once the bucket is spent is a 429 with the same id", function()
    local p, seen = make()
    local v = p.judge('{"jsonrpc":"2.0","id":"abc","method":"admin_peers"}', "ip:b", 1, 3, 100, pipeline.HTTP)
    T.eq(v.answer, true)
    T.eq(v.status, 200)
    T.eq(v.body, '{"jsonrpc":"2.0","id":"abc","error":{"code":-32601,"message":"method not allowed: admin_peers"}}')
    p.judge('{"jsonrpc":"2.0","id":2,"method":"admin_peers"}', "ip:b", 1, 3, 100, pipeline.HTTP)
    p.judge('{"jsonrpc":"2.0","id":3,"method":"admin_peers"}', "ip:b", 1, 3, 100, pipeline.HTTP)
    local over = p.judge('{"jsonrpc":"2.0","id":"x7","method":"admin_peers"}', "ip:b", 1, 3, 100, pipeline.HTTP)
    T.eq(over.status, 429)
    T.eq(over.body, '{"jsonrpc":"2.0","id":"x7","error":{"code":-32005,"message":"rate limit exceeded"}}')
    T.eq(over.headers["RateLimit-Remaining"], 0)
    T.truthy(seen.counted[next(seen.counted)] ~= nil, "counted")
end)

T.test("junk costs by its size; a batch refused whole answers each request with its own id", function()
    local p = make()
    local v = p.judge(string.rep("x", 40000), "ip:c", 1, 10, 100, pipeline.HTTP)
    T.eq(v.status, 400)
    -- 3 units paid of 10; the next 40 KB cost 3 more; then 1 left
    p.judge(string.rep("x", 40000), "ip:c", 1, 10, 100, pipeline.HTTP)
    p.judge(string.rep("x", 40000), "ip:c", 1, 10, 100, pipeline.HTTP)
    local batch = '[{"jsonrpc":"2.0","id":1,"method":"debug_a"},{"jsonrpc":"2.0","method":"debug_b"},{"jsonrpc":"2.0","id":"z","method":"debug_c"}]'
    local b = p.judge(batch, "ip:c", 1, 10, 100, pipeline.HTTP)
    T.eq(b.status, 429)
    T.eq(b.body, '[{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"rate limit exceeded"}},'
        .. '{"jsonrpc":"2.0","id":"z","error":{"code":-32005,"message":"rate limit exceeded"}}]')
end)

T.test("a batch with refused elements forwards the rest as their own bytes and splices the answers back in order", function()
    local p = make()
    local batch = '[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"admin_peers"},'
        .. '{"jsonrpc":"2.0","id":3,"method":"net_version"}]'
    local v = p.judge(batch, "ip:d", 100, 100, 100, pipeline.HTTP)
    T.eq(v.partial, true)
    T.eq(v.body, '[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":3,"method":"net_version"}]')
    T.eq(#v.ids, 2)
    local status, out = p.finish(v, '[{"jsonrpc":"2.0","id":3,"result":"1337"},{"jsonrpc":"2.0","id":1,"result":"0x539"}]')
    T.eq(status, 200)
    T.eq(out, '[{"jsonrpc":"2.0","id":1,"result":"0x539"},'
        .. '{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"method not allowed: admin_peers"}},'
        .. '{"jsonrpc":"2.0","id":3,"result":"1337"}]')
    -- Every element allowed: the body goes as it came.
    local plain = '[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"net_version"}]'
    local all = p.judge(plain, "ip:d", 100, 100, 100, pipeline.HTTP)
    T.eq(all.forward, true)
    T.eq(#all.labels, 2)
end)

T.test("no healthy backend: 503 with each request's own id", function()
    local p, seen = make()
    seen.pool.healthy = false
    local v = p.judge(call("eth_chainId", 1), "ip:e", 10, 10, 100, pipeline.HTTP)
    T.eq(v.status, 503)
    T.eq(v.body, '{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"no healthy upstream"}}')
    local b = p.judge('[{"jsonrpc":"2.0","id":"a","method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"admin_x"}]', "ip:e", 10, 10, 100, pipeline.HTTP)
    T.eq(b.status, 503)
    T.eq(b.body, '[{"jsonrpc":"2.0","id":"a","error":{"code":-32603,"message":"no healthy upstream"}},'
        .. '{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"method not allowed: admin_x"}}]')
end)

T.test("with RateLimit headers always, an admitted call reports what is left", function()
    local p, seen = make({ always = true })
    p.judge(call("eth_chainId", 1), "ip:f", 1, 5, 100, pipeline.HTTP)
    T.eq(#seen.headers, 1)
    T.eq(seen.headers[1][1], 5)
    T.eq(seen.headers[1][2], 4)
end)

T.test("body units: one per started 16 KiB", function()
    T.eq(pipeline.body_units(0), 1)
    T.eq(pipeline.body_units(16383), 1)
    T.eq(pipeline.body_units(16384), 2)
    T.eq(pipeline.body_units(1048576), 65)
end)
