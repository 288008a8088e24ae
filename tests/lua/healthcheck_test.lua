local T = ...
local healthcheck = require("ethnode.healthcheck")
local upstream = require("ethnode.upstream")

local GOOD = '[{"jsonrpc":"2.0","id":1,"result":false},{"jsonrpc":"2.0","id":2,"result":"0x64"}]'

-- `answers.consensus`, when set, is what the node's consensus client answers to /eth/v1/node/syncing.
local function make(fall, rise, with_consensus)
    local dict = T.dict()
    local backends = { { name = "own", host = "a", port = 1, ["local"] = true }, { name = "peer", host = "b", port = 2 } }
    local answers = { own = { 200, GOOD }, peer = { 200, GOOD } }
    local drained = false
    local pool = upstream.new(dict, backends, 8, 0)
    local gauges = {}
    local c = healthcheck.new({
        backends = backends, pool = pool, dict = dict, fall = fall, rise = rise,
        metrics = { set = function(_, name, labels, v) if not labels then gauges[name] = v end end },
        probe = function(b) return answers[b.name][1], answers[b.name][2] end,
        drained = function() return drained end,
        consensus = with_consensus and function() return answers.consensus[1], answers.consensus[2] end or nil,
    })
    return c, answers, dict, function(v) drained = v end, gauges
end

local function cl_syncing(syncing, el_offline)
    return { 200, '{"data":{"head_slot":"4321","sync_distance":"0","is_syncing":' .. tostring(syncing)
        .. ',"is_optimistic":false,"el_offline":' .. tostring(el_offline or false) .. '}}' }
end

T.test("fall: a serving backend is out only after `fall` failed probes in a row; one good probe resets the count", function()
    local c, answers, dict = make(3, 1)
    c:round()
    T.eq(dict:get("ok:peer"), 1)
    answers.peer = { nil, "timeout" }
    c:round()
    c:round()
    T.eq(dict:get("ok:peer"), 1)
    answers.peer = { 200, GOOD }
    c:round()
    answers.peer = { nil, "timeout" }
    c:round()
    c:round()
    T.eq(dict:get("ok:peer"), 1)
    c:round()
    T.eq(dict:get("ok:peer"), 0)
    T.eq(dict:get("why:peer"), "down")
end)

T.test("rise: a backend that was out serves again only after `rise` good probes in a row", function()
    local c, answers, dict = make(1, 2)
    answers.peer = { 500, "" }
    c:round()
    T.eq(dict:get("ok:peer"), 0)
    answers.peer = { 200, GOOD }
    c:round()
    T.eq(dict:get("ok:peer"), 0)
    c:round()
    T.eq(dict:get("ok:peer"), 1)
end)

T.test("a drained peer (503) is out at once, whatever fall says; so is a syncing one", function()
    local c, answers, dict = make(5, 1)
    c:round()
    answers.peer = { 503, '{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"node draining"}}' }
    c:round()
    T.eq(dict:get("ok:peer"), 0)
    answers.peer = { 200, '[{"jsonrpc":"2.0","id":1,"result":{"currentBlock":"0x1"}},{"jsonrpc":"2.0","id":2,"result":"0x1"}]' }
    c:round()
    T.eq(dict:get("why:peer"), "syncing")
end)

T.test("the status page: up or down in public, every backend and `ready` in detail", function()
    local c, answers, _, drain = make(1, 1)
    c:round()
    local status, body = c:status(false)
    T.eq(status, 200)
    T.eq(body, '{"status":"up"}')
    drain(true)
    c:round()
    local _, detail = c:status(true)
    T.truthy(detail:find('"drained":true', 1, true), "drained")
    T.truthy(detail:find('"ready":true', 1, true), "ready while drained")
    answers.own, answers.peer = { nil, "refused" }, { nil, "refused" }
    drain(false)
    c:round()
    T.eq((c:status(false)), 503)
end)

T.test("a node whose consensus client is synced serves; syncing, down or garbled takes its own backend out", function()
    local c, answers, dict, _, gauges = make(3, 1, true)
    answers.consensus = cl_syncing(false)
    c:round()
    T.eq(dict:get("ok:own"), 1)
    T.eq(dict:get("consensus:synced"), 1)
    T.eq(gauges.ethnode_gateway_consensus_synced, 1)
    local _, detail = c:status(true)
    T.truthy(detail:find('"consensus":{', 1, true) and detail:find('"head_slot":4321', 1, true), detail)
    local unsynced = {
        cl_syncing(true), { nil, "connection refused" }, { 503, "{}" }, { 200, "not json" }, { 200, '{"data":[]}' },
    }
    for _, answer in ipairs(unsynced) do
        answers.consensus = answer
        c:round()
        -- At once, whatever `fall` says: the execution client's own probe was fine, its head is not one to serve.
        T.eq(dict:get("ok:own"), 0)
        T.eq(dict:get("why:own"), "consensus syncing")
        T.eq(dict:get("consensus:synced"), 0)
        T.eq(gauges.ethnode_gateway_consensus_synced, 0)
        -- The peer still serves, and its head alone makes the pool's.
        T.eq(dict:get("ok:peer"), 1)
    end
    answers.consensus = cl_syncing(false)
    c:round()
    T.eq(dict:get("ok:own"), 1)
    T.eq(dict:get("why:own"), "ok")
    -- Prysm's el_offline follows its deposit-log follower, not the engine: a devnet without a deposit contract
    -- reports it for ever while its chain runs.
    answers.consensus = cl_syncing(false, true)
    c:round()
    T.eq(dict:get("ok:own"), 1)
end)

T.test("without a consensus client (dev) nothing of it is asked or reported", function()
    local c, _, dict, _, gauges = make(1, 1, false)
    c:round()
    T.eq(dict:get("consensus:synced"), nil)
    T.eq(gauges.ethnode_gateway_consensus_synced, nil)
    local _, detail = c:status(true)
    T.eq(detail:find('"consensus"', 1, true), nil, detail)
end)
