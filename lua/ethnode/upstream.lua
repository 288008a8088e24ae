-- The backend pool: health state in a shared dict (written by one checker, read by every worker) and the
-- choice of a backend per request. A backend serves only when it answered its last check, is not syncing,
-- is within `max_lag` blocks of the best head in the pool, and is not drained. The node's own execution
-- client (the backend marked `local`) is chosen whenever it serves; the other nodes take over when it does not.
local ipairs, tonumber, type = ipairs, tonumber, type

local _M = { _VERSION = "0.1.0" }

-- Requests read a worker-local copy of the health state, refreshed from the dict at most every `ttl`
-- seconds, so the hot path takes no shared-memory lock; the checker runs every second or more anyway.
function _M.new(dict, backends, max_lag, ttl)
    local preferred
    for _, b in ipairs(backends) do
        if b["local"] then preferred = b end
    end
    return setmetatable({
        dict = dict, backends = backends, max_lag = max_lag, rr = 0, ttl = ttl or 0.2, cache = {}, any = true, refreshed = nil,
        preferred = preferred,
    }, { __index = _M })
end

-- Never checked yet (the first check runs at start): serve rather than refuse everything.
local function serves(ok)
    return ok == nil or ok == 1
end

function _M.refresh(self, now)
    if self.refreshed and now and now - self.refreshed < self.ttl then return end
    local cache, any = {}, false
    for _, b in ipairs(self.backends) do
        local v = self.dict:get("ok:" .. b.name)
        cache[b.name] = v
        if serves(v) then any = true end
    end
    cache["pool:head"] = self.dict:get("pool:head")
    self.cache = cache
    self.any = any
    self.refreshed = now
end

function _M.healthy(self, name)
    return serves(self.cache[name])
end

-- Whether any backend may serve, as of the last refresh.
function _M.any_healthy(self)
    return self.any
end

function _M.pool_head(self)
    return self.cache["pool:head"]
end

-- The local backend when it serves, else round-robin over the healthy others, skipping `exclude` (a backend
-- that just failed this request).
function _M.pick(self, exclude)
    local own = self.preferred
    if own and own.name ~= exclude and self:healthy(own.name) then return own end
    local n = #self.backends
    for i = 1, n do
        local b = self.backends[(self.rr + i - 1) % n + 1]
        if b.name ~= exclude and self:healthy(b.name) then
            self.rr = (self.rr + i) % n
            return b
        end
    end
    return nil
end

-- Applies one round of probe results: results[name] = { up = bool, syncing = bool, head = number|nil, why = the
-- reason a syncing backend gives, when it is not its own execution client }.
-- `drained` names a backend taken out of service on purpose: it is still probed (its head counts, and
-- `ready:<name>` says whether it could serve), but never chosen. Returns the pool's best head.
function _M.apply(self, results, drained)
    local best
    for _, b in ipairs(self.backends) do
        local r = results[b.name]
        if r and r.up and not r.syncing and type(r.head) == "number" and (not best or r.head > best) then
            best = r.head
        end
    end
    for _, b in ipairs(self.backends) do
        local r = results[b.name] or {}
        local head = r.head
        local ok = r.up and not r.syncing and type(head) == "number" and best ~= nil and best - head <= self.max_lag
        local reason = not r.up and "down" or r.syncing and (r.why or "syncing") or (ok and "ok" or "lagging")
        self.dict:set("ready:" .. b.name, ok and 1 or 0)
        if b.name == drained then
            ok = false
            if reason == "ok" then reason = "drained" end
        end
        self.dict:set("ok:" .. b.name, ok and 1 or 0)
        self.dict:set("head:" .. b.name, head or -1)
        self.dict:set("why:" .. b.name, reason)
    end
    if best then self.dict:set("pool:head", best) end
    self:refresh()
    return best
end

-- Reads a probe response: a batch of [eth_syncing, eth_blockNumber] (in any order, matched by id).
function _M.read_probe(decoded)
    if type(decoded) ~= "table" then return { up = false } end
    local syncing, head
    for _, r in ipairs(decoded) do
        if type(r) == "table" and r.id == 1 then syncing = r.result end
        if type(r) == "table" and r.id == 2 and type(r.result) == "string" then head = tonumber(r.result:sub(3), 16) end
    end
    if syncing == nil or head == nil then return { up = false } end
    return { up = true, syncing = syncing ~= false, head = head }
end

_M.PROBE_BODY = '[{"jsonrpc":"2.0","id":1,"method":"eth_syncing","params":[]},'
    .. '{"jsonrpc":"2.0","id":2,"method":"eth_blockNumber","params":[]}]'

return _M
