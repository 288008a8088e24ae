-- Method policy: allow-list with namespace wildcards, namespaces that are always denied unless allowed
-- explicitly, per-method weights, and the eth_getLogs block-range cap. Pure.
local type, tonumber, ipairs, setmetatable = type, tonumber, ipairs, setmetatable
local sub, find, match, format = string.sub, string.find, string.match, string.format

local _M = { _VERSION = "0.1.0" }

-- Namespaces that control or expose the node; never public unless named in the allow-list.
local ALWAYS_DENIED = { admin = true, debug = true, personal = true, engine = true, miner = true }

-- "eth_call" -> "eth"; a name without a namespace matches no wildcard.
local function namespace(method)
    local i = find(method, "_", 1, true)
    return i and sub(method, 1, i - 1) or nil
end

-- allow: list of "eth_call" or "eth_*"; weights: map method -> units (default 1).
function _M.new(opts)
    local exact, wildcard = {}, {}
    for _, entry in ipairs(opts.allow or {}) do
        if sub(entry, -2) == "_*" then wildcard[sub(entry, 1, -3)] = true else exact[entry] = true end
    end
    return setmetatable({
        exact = exact,
        wildcard = wildcard,
        weights = opts.weights or {},
        max_logs_range = opts.max_logs_range or 10000,
        rules = {},
        rule_count = 0,
    }, { __index = _M })
end

function _M.allowed(self, method)
    if self.exact[method] then return true end
    local ns = namespace(method)
    if not ns then return false end
    if ALWAYS_DENIED[ns] then
        -- A wildcard for a dangerous namespace counts only when spelled out for that namespace.
        return self.wildcard[ns] == true
    end
    return self.wildcard[ns] == true
end

function _M.weight(self, method)
    return self.weights[method] or 1
end

-- Methods safe to retry on another backend: reads. Anything that writes or subscribes is not.
local NOT_IDEMPOTENT = {
    eth_sendRawTransaction = true, eth_sendTransaction = true, eth_subscribe = true, eth_unsubscribe = true,
    eth_newFilter = true, eth_newBlockFilter = true, eth_newPendingTransactionFilter = true,
    eth_uninstallFilter = true, eth_getFilterChanges = true,
}
-- Methods whose params the policy inspects.
local CHECKED = { eth_getLogs = true }

-- Method names come from clients: at most this many decisions are remembered, so random names cannot
-- grow the cache; past it, a decision is worked out each time.
local RULE_CACHE_SIZE = 1024

-- Everything the request path needs to know about a method, worked out once per method name:
-- { allowed, weight, idempotent, checked, label }. `label` names the method in metrics: a wildcard such as
-- eth_* lets clients invent names, so only the names this cache holds get their own series (at most its
-- size); denied ones and any past the bound count as "other".
function _M.rule(self, method)
    local cache = self.rules
    local r = cache[method]
    if r then return r end
    local cached = self.rule_count < RULE_CACHE_SIZE
    local allowed = self:allowed(method)
    r = {
        allowed = allowed,
        weight = self:weight(method),
        idempotent = not NOT_IDEMPOTENT[method],
        checked = CHECKED[method] == true,
        label = allowed and cached and method or "other",
    }
    if cached then
        cache[method] = r
        self.rule_count = self.rule_count + 1
    end
    return r
end

local TAGS = { latest = true, safe = true, finalized = true, pending = true }

local function block_number(v, head)
    if v == nil or v == "latest" or TAGS[v] then return head end
    if v == "earliest" then return 0 end
    if type(v) ~= "string" or not match(v, "^0x[0-9a-fA-F]+$") or #v > 18 then return nil end
    return tonumber(sub(v, 3), 16)
end

-- Returns nil when the request is within policy, else an error message. `head` resolves block tags (nil
-- when unknown: a tag-based range is then allowed, since it cannot be measured).
function _M.check_params(self, req, head)
    if req.method ~= "eth_getLogs" then return nil end
    local filter = type(req.params) == "table" and req.params[1]
    if type(filter) ~= "table" or filter.blockHash ~= nil then return nil end
    local from = block_number(filter.fromBlock, head)
    local to = block_number(filter.toBlock, head)
    if (filter.fromBlock ~= nil and from == nil and head ~= nil) or (filter.toBlock ~= nil and to == nil and head ~= nil) then
        return "invalid block number in eth_getLogs filter"
    end
    if from and to and to - from + 1 > self.max_logs_range then
        return format("eth_getLogs block range of %d exceeds the limit of %d", to - from + 1, self.max_logs_range)
    end
    return nil
end

return _M
