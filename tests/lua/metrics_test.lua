local T = ...
local metrics = require("ethnode.metrics")

T.test("renders counters with HELP/TYPE and escaped labels", function()
    local m = metrics.new(T.dict())
    local ok = metrics.key("ethnode_gateway_requests_total", { method = "eth_call", outcome = "ok" })
    m:add(ok, 1)
    m:add(ok, 1)
    m:add(metrics.key("ethnode_gateway_rejections_total", { reason = 'a"b' }), 1)
    T.eq(m:render(), "\n", "nothing before a flush")
    T.eq(m:flush(), 0)
    local out = m:render()
    T.truthy(out:find('ethnode_gateway_requests_total{method="eth_call",outcome="ok"} 2', 1, true), out)
    T.truthy(out:find("# TYPE ethnode_gateway_requests_total counter", 1, true), out)
    T.truthy(out:find('reason="a\\"b"', 1, true), out)
end)

T.test("a histogram observation fills cumulative buckets, sum and count", function()
    local m = metrics.new(T.dict())
    local keys = metrics.histogram_keys("ethnode_gateway_upstream_latency_seconds", { backend = "a" })
    m:observe_keys(keys, 0.003)
    m:observe_keys(keys, 0.2)
    m:flush()
    local out = m:render()
    T.truthy(out:find('ethnode_gateway_upstream_latency_seconds_bucket{backend="a",le="0.0025"} 0', 1, true), out)
    T.truthy(out:find('ethnode_gateway_upstream_latency_seconds_bucket{backend="a",le="0.005"} 1', 1, true), out)
    T.truthy(out:find('ethnode_gateway_upstream_latency_seconds_bucket{backend="a",le="0.25"} 2', 1, true), out)
    T.truthy(out:find('ethnode_gateway_upstream_latency_seconds_bucket{backend="a",le="+Inf"} 2', 1, true), out)
    -- Buckets come in ascending order, as Prometheus expects.
    T.truthy(out:find('le="0.001"', 1, true) < out:find('le="+Inf"', 1, true), out)
    T.truthy(out:find('ethnode_gateway_upstream_latency_seconds_count{backend="a"} 2', 1, true), out)
end)

T.test("memo builds each value's key once", function()
    local built = 0
    local key = metrics.memo(function(v) built = built + 1 return "k_" .. v end)
    T.eq(key("a"), "k_a")
    T.eq(key("a"), "k_a")
    T.eq(key("b"), "k_b")
    T.eq(built, 2)
end)

T.test("bucket_index agrees with the definition (first bound >= value) on and around every bound", function()
    local B = metrics.BUCKETS
    local function linear(v)
        for i, b in ipairs(B) do
            if v <= b then return i end
        end
        return #B + 1
    end
    local values = { -1, 0, 1e-9, 1e9, math.huge }
    for _, b in ipairs(B) do
        values[#values + 1] = b
        values[#values + 1] = b * (1 - 1e-12)
        values[#values + 1] = b * (1 + 1e-12)
    end
    for _ = 1, 10000 do values[#values + 1] = math.random() * 12 ^ math.random() / 100 end
    for _, v in ipairs(values) do T.eq(metrics.bucket_index(v), linear(v), tostring(v)) end
end)
