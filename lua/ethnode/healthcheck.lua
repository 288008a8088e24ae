-- The gateway's health checker: one worker per interval probes every backend (eth_syncing + eth_blockNumber in
-- one batch), the probes pass fall/rise thresholds, and the pool (ethnode.upstream) decides who serves. Also the
-- status page (/health) read from the same state. The probe's transport is handed in, so the thresholds and the
-- page are tested without nginx.
--
-- Fall/rise: a backend that serves is taken out only after `fall` failed probes in a row (one slow answer is no
-- outage), and one that does not comes back only after `rise` good probes in a row (no flapping back in). What a
-- probe that answered says (syncing, its head, its lag) counts at once, and a drained peer (503) is out at once.
--
-- On a node with a consensus client, its Beacon API is asked too (/eth/v1/node/syncing): an execution client whose
-- consensus client is syncing or does not answer knows no head to serve from, whatever its own eth_syncing says.
-- The node's own backend then counts as syncing, and its peer listener refuses the other nodes. (`el_offline` is
-- not read: Prysm sets it from its deposit-log follower, which a chain without a deposit contract never satisfies,
-- and an execution client that is really down fails its own probe.)
local jsonrpc = require("ethnode.jsonrpc")
local upstream = require("ethnode.upstream")

local ipairs = ipairs

local _M = { _VERSION = "0.1.0" }

-- opts: backends, pool (ethnode.upstream), dict (the pool's shared dict), metrics, fall, rise, probe(backend)
-- -> status, body (or nil, err), drained() -> bool, and on a node with a consensus client consensus() -> status,
-- body of its /eth/v1/node/syncing.
function _M.new(opts)
    return setmetatable({
        backends = opts.backends, pool = opts.pool, dict = opts.dict, metrics = opts.metrics,
        fall = opts.fall or 1, rise = opts.rise or 1, probe = opts.probe, drained = opts.drained,
        consensus = opts.consensus,
    }, { __index = _M })
end

-- The consensus client as its Beacon API tells: synced (not syncing) and its head slot. Anything but a
-- well-formed answer is "not synced": a node cannot serve what it cannot vouch for.
function _M.read_consensus(status, body)
    if status ~= 200 then return { synced = false } end
    local ok, doc = pcall(jsonrpc.decode, body)
    local d = ok and type(doc) == "table" and doc.data
    if type(d) ~= "table" then return { synced = false } end
    return { synced = d.is_syncing == false, head_slot = tonumber(d.head_slot) }
end

-- One probe's reading: { up, syncing, head }, with `refused` when the peer answered 503 (drained).
local function read(status, body)
    if status == 200 then return upstream.read_probe(jsonrpc.decode(body)) end
    return { up = false, refused = status == 503 }
end

-- The result the pool applies for `name` this round, after the thresholds: counts of good and failed probes in a
-- row live in the dict, since the next round may run in another worker.
function _M.settle(self, name, r)
    local dict = self.dict
    local good, bad
    if r.up then
        good, bad = (dict:get("rise:" .. name) or 0) + 1, 0
    else
        good, bad = 0, (dict:get("fall:" .. name) or 0) + 1
    end
    dict:set("rise:" .. name, good)
    dict:set("fall:" .. name, bad)
    local serving = dict:get("ok:" .. name) ~= 0
    if r.up and not serving and good < self.rise then
        return { up = false, held = true }
    end
    if not r.up and serving and not r.refused and bad < self.fall then
        -- Within `fall`: still serving, at the head it last reported.
        local head = dict:get("head:" .. name)
        if head and head >= 0 then return { up = true, syncing = false, head = head } end
    end
    return r
end

-- One round: probe, settle, apply, export. Returns the pool's best head.
function _M.round(self)
    local drained = self.drained()
    self.dict:set("drained", drained and 1 or 0)
    local cl = self.consensus and _M.read_consensus(self.consensus())
    if cl then
        self.dict:set("consensus:synced", cl.synced and 1 or 0)
        self.dict:set("consensus:head", cl.head_slot or -1)
        self.metrics:set("ethnode_gateway_consensus_synced", nil, cl.synced and 1 or 0)
    end
    local results = {}
    for _, b in ipairs(self.backends) do
        local r = self:settle(b.name, read(self.probe(b)))
        if cl and not cl.synced and b["local"] and r.up then r = { up = true, syncing = true, head = r.head, why = "consensus syncing" } end
        results[b.name] = r
    end
    local pool, metrics = self.pool, self.metrics
    local best = pool:apply(results, drained and pool.preferred and pool.preferred.name or nil)
    metrics:set("ethnode_gateway_drained", nil, drained and 1 or 0)
    for _, b in ipairs(self.backends) do
        metrics:set("ethnode_gateway_backend_healthy", { backend = b.name }, pool:healthy(b.name) and 1 or 0)
        metrics:set("ethnode_gateway_backend_head_block", { backend = b.name }, results[b.name].head or -1)
    end
    if best then metrics:set("ethnode_gateway_pool_head_block", nil, best) end
    return best
end

-- /health: on the public port only up or down (a load balancer's question); `detailed` (the loopback metrics
-- port) adds every backend, its state and head, whether this node is drained, and `ready`: whether its own
-- execution client could serve (answering, synced, within max_lag of the best head) — the gate a rolling upgrade
-- waits for before it puts the node back. Returns the status and the body.
function _M.status(self, detailed)
    local dict = self.dict
    local backends, healthy = {}, 0
    for _, b in ipairs(self.backends) do
        local ok = dict:get("ok:" .. b.name) == 1
        if ok then healthy = healthy + 1 end
        backends[#backends + 1] = {
            name = b.name,
            ["local"] = b["local"] == true,
            healthy = ok,
            head = dict:get("head:" .. b.name),
            state = dict:get("why:" .. b.name) or "unchecked",
        }
    end
    local status = healthy > 0 and 200 or 503
    if not detailed then return status, status == 200 and '{"status":"up"}' or '{"status":"down"}' end
    local own = self.pool.preferred
    local synced = dict:get("consensus:synced")
    local head_slot = dict:get("consensus:head")
    return status, jsonrpc.encode({
        healthy = healthy, backends = backends, head = self.pool:pool_head(),
        drained = dict:get("drained") == 1,
        consensus = synced ~= nil and { synced = synced == 1, head_slot = head_slot ~= -1 and head_slot or nil } or nil,
        ready = own ~= nil and dict:get("ready:" .. own.name) == 1,
    })
end

return _M
