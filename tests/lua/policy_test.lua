local T = ...
local policy = require("ethnode.policy")

local p = policy.new({ allow = { "eth_*", "net_*", "web3_*" }, weights = { eth_getLogs = 10 }, max_logs_range = 100 })

T.test("allows the default namespaces", function()
    T.eq(p:allowed("eth_blockNumber"), true)
    T.eq(p:allowed("net_version"), true)
    T.eq(p:allowed("web3_clientVersion"), true)
end)

T.test("denies other and dangerous namespaces", function()
    for _, m in ipairs({ "admin_peers", "debug_traceTransaction", "personal_sign", "engine_newPayloadV4",
        "miner_start", "txpool_content", "eth", "foo" }) do
        T.eq(p:allowed(m), false, m)
    end
end)

T.test("a dangerous method is served only when named explicitly", function()
    local q = policy.new({ allow = { "eth_*", "debug_traceTransaction" } })
    T.eq(q:allowed("debug_traceTransaction"), true)
    T.eq(q:allowed("debug_setHead"), false)
end)

T.test("weights default to 1", function()
    T.eq(p:weight("eth_getLogs"), 10)
    T.eq(p:weight("eth_chainId"), 1)
end)

T.test("caps a log filter's range like eth_getLogs: eth_getFilterLogs would run it whole", function()
    local wide = { method = "eth_newFilter", params = { { fromBlock = "0x0", toBlock = "latest" } } }
    T.eq(p:check_params(wide, 1000), "eth_newFilter block range of 1001 exceeds the limit of 100")
    T.eq(p:check_params({ method = "eth_newFilter", params = { { fromBlock = "latest" } } }, 1000), nil)
    T.eq(p:check_params({ method = "eth_newFilter", params = { { fromBlock = "0x3e8", toBlock = "0x44b" } } }, 1000), nil)
    T.eq(p:rule("eth_newFilter").checked, true)
end)

T.test("caps the eth_getLogs range, with tags resolved against the head", function()
    local ok = { method = "eth_getLogs", params = { { fromBlock = "0x1", toBlock = "0x64" } } }
    T.eq(p:check_params(ok, 1000), nil)
    local wide = { method = "eth_getLogs", params = { { fromBlock = "0x1", toBlock = "0x65" } } }
    T.eq(p:check_params(wide, 1000), "eth_getLogs block range of 101 exceeds the limit of 100")
    local tagged = { method = "eth_getLogs", params = { { fromBlock = "earliest", toBlock = "latest" } } }
    T.eq(p:check_params(tagged, 1000), "eth_getLogs block range of 1001 exceeds the limit of 100")
    T.eq(p:check_params({ method = "eth_getLogs", params = { { blockHash = "0xab" } } }, 1000), nil)
    T.eq(p:check_params({ method = "eth_getLogs", params = { { fromBlock = "zz" } } }, 1000), "invalid block number in eth_getLogs filter")
end)

T.test("a range key geth would read under another spelling is refused, whatever the range", function()
    -- Go's encoding/json folds case (and the Kelvin sign, the long s) when it matches a key to a field.
    local spellings = { "fromblock", "FROMBLOCK", "FromBlock", "toblock", "TOBLOCK", "blockhash", "BlockHash",
        "fromBloc\226\132\170", "blockha\197\191h" }
    for _, m in ipairs({ "eth_getLogs", "eth_newFilter" }) do
        for _, key in ipairs(spellings) do
            local filter = { [key] = "0x0" }
            T.eq(p:check_params({ method = m, params = { filter } }, 1000), m .. " filter keys must be spelled fromBlock, toBlock and blockHash")
            -- Beside the right spelling too (which of the two geth takes depends on their order).
            filter.fromBlock, filter.toBlock = "0x1", "0x2"
            T.eq(p:check_params({ method = m, params = { filter } }, 1000), m .. " filter keys must be spelled fromBlock, toBlock and blockHash")
        end
    end
    -- Other keys are the backend's business; the right spellings pass as before.
    T.eq(p:check_params({ method = "eth_getLogs", params = { { fromBlock = "0x1", toBlock = "0x2", address = "0x00", Topics = {} } } }, 1000), nil)
    T.eq(p:check_params({ method = "eth_getLogs", params = { { blockHash = "0xab" } } }, 1000), nil)
end)

T.test("writes and filters are not idempotent", function()
    T.eq(p:rule("eth_sendRawTransaction").idempotent, false)
    T.eq(p:rule("eth_call").idempotent, true)
end)

T.test("a method's rule is worked out once, and client-chosen names cannot grow the cache without bound", function()
    local q = policy.new({ allow = { "eth_*" }, weights = { eth_getLogs = 10 } })
    local r = q:rule("eth_getLogs")
    T.eq(r.allowed, true)
    T.eq(r.weight, 10)
    T.eq(r.checked, true)
    T.eq(q:rule("eth_getLogs"), r)
    T.eq(q:rule("eth_sendRawTransaction").idempotent, false)
    T.eq(q:rule("admin_peers").allowed, false)
    T.eq(r.label, "eth_getLogs")
    T.eq(q:rule("admin_peers").label, "other")
    for i = 1, 5000 do q:rule("eth_random" .. i) end
    T.truthy(q.rule_count <= 1024, "bounded")
    -- Metrics labels are bounded the same way: names past the cache count as "other".
    T.eq(q:rule("eth_random1").label, "eth_random1")
    T.eq(q:rule("eth_random4999").label, "other")
    T.eq(q:rule("eth_random4999").allowed, true)
    -- Past the bound, decisions are still right.
    T.eq(q:rule("debug_setHead").allowed, false)
    T.eq(q:rule("eth_chainId").allowed, true)
end)

T.test("a flood of invented names cannot take a standard method's label", function()
    local q = policy.new({ allow = { "eth_*", "net_*", "web3_*" } })
    for i = 1, 5000 do q:rule("eth_invented" .. i) end
    T.eq(q:rule("eth_invented4999").label, "other")
    for _, m in ipairs(policy.STANDARD) do T.eq(q:rule(m).label, m, m) end
    T.eq(q:rule("eth_blockNumber").weight, 1)
    T.eq(q:rule("eth_sendRawTransaction").idempotent, false)
    -- Allowed only when the allow-list says so: a standard name is remembered, not allowed.
    local narrow = policy.new({ allow = { "eth_call" } })
    T.eq(narrow:rule("eth_getLogs").allowed, false)
    T.eq(narrow:rule("eth_getLogs").label, "other")
    T.eq(narrow:rule("eth_call").label, "eth_call")
end)
