-- Method policy: allow-list with namespace wildcards, namespaces that are always denied unless allowed
-- explicitly, per-method weights, and the eth_getLogs block-range cap. Pure.
local type, tonumber, ipairs, pairs, setmetatable = type, tonumber, ipairs, pairs, setmetatable
local sub, find, match, format, gsub, lower = string.sub, string.find, string.match, string.format, string.gsub, string.lower

local _M = { _VERSION = "0.1.0" }

-- Namespaces that control or expose the node; never public unless named in the allow-list.
local ALWAYS_DENIED = { admin = true, debug = true, personal = true, engine = true, miner = true }

-- "eth_call" -> "eth"; a name without a namespace matches no wildcard.
local function namespace(method)
    local i = find(method, "_", 1, true)
    return i and sub(method, 1, i - 1) or nil
end

-- Methods safe to retry on another backend: reads. Anything that writes or subscribes is not.
local NOT_IDEMPOTENT = {
    eth_sendRawTransaction = true, eth_sendTransaction = true, eth_subscribe = true, eth_unsubscribe = true,
    eth_newFilter = true, eth_newBlockFilter = true, eth_newPendingTransactionFilter = true,
    eth_uninstallFilter = true, eth_getFilterChanges = true,
}
-- Methods whose params the policy inspects.
-- Methods whose params the policy reads: a log query's block range, and a log filter's, which
-- eth_getFilterLogs later runs in full.
local CHECKED = { eth_getLogs = true, eth_newFilter = true }

-- The standard methods (Ethereum execution API, net_, web3_) are remembered from the start, outside the bound
-- on client-named ones (RULE_CACHE_SIZE, below): a flood of invented eth_* names can take those slots, never
-- these names' own metric labels.
_M.STANDARD = {
    "eth_accounts", "eth_blobBaseFee", "eth_blockNumber", "eth_call", "eth_chainId", "eth_coinbase", "eth_config",
    "eth_createAccessList", "eth_estimateGas", "eth_feeHistory", "eth_gasPrice", "eth_getBalance",
    "eth_getBlockByHash", "eth_getBlockByNumber", "eth_getBlockReceipts", "eth_getBlockTransactionCountByHash",
    "eth_getBlockTransactionCountByNumber", "eth_getCode", "eth_getFilterChanges", "eth_getFilterLogs",
    "eth_getHeaderByHash", "eth_getHeaderByNumber", "eth_getLogs", "eth_getProof", "eth_getStorageAt",
    "eth_getTransactionByBlockHashAndIndex", "eth_getTransactionByBlockNumberAndIndex", "eth_getTransactionByHash",
    "eth_getTransactionCount", "eth_getTransactionReceipt", "eth_getUncleByBlockHashAndIndex",
    "eth_getUncleByBlockNumberAndIndex", "eth_getUncleCountByBlockHash", "eth_getUncleCountByBlockNumber",
    "eth_maxPriorityFeePerGas", "eth_newBlockFilter", "eth_newFilter", "eth_newPendingTransactionFilter",
    "eth_protocolVersion", "eth_sendRawTransaction", "eth_sendTransaction", "eth_sign", "eth_signTransaction",
    "eth_simulateV1", "eth_subscribe", "eth_syncing", "eth_uninstallFilter", "eth_unsubscribe",
    "net_listening", "net_peerCount", "net_version", "web3_clientVersion", "web3_sha3",
}

local function work_out(self, method, labelled)
    local allowed = self:allowed(method)
    return {
        allowed = allowed,
        weight = self:weight(method),
        idempotent = not NOT_IDEMPOTENT[method],
        checked = CHECKED[method] == true,
        label = allowed and labelled and method or "other",
    }
end

-- allow: list of "eth_call" or "eth_*"; weights: map method -> units (default 1).
function _M.new(opts)
    local exact, wildcard = {}, {}
    for _, entry in ipairs(opts.allow or {}) do
        if sub(entry, -2) == "_*" then wildcard[sub(entry, 1, -3)] = true else exact[entry] = true end
    end
    local self = setmetatable({
        exact = exact,
        wildcard = wildcard,
        weights = opts.weights or {},
        max_logs_range = opts.max_logs_range or 10000,
        rules = {},
        rule_count = 0,
    }, { __index = _M })
    for _, method in ipairs(_M.STANDARD) do self.rules[method] = work_out(self, method, true) end
    return self
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

-- Method names come from clients: at most this many decisions are remembered, so random names cannot
-- grow the cache; past it, a decision is worked out each time.
local RULE_CACHE_SIZE = 1024

-- Everything the request path needs to know about a method, worked out once per method name:
-- { allowed, weight, idempotent, checked, label }. `label` names the method in metrics: a wildcard such as
-- eth_* lets clients invent names, so only the names this cache holds get their own series (the standard
-- ones and at most RULE_CACHE_SIZE others); denied ones and any past the bound count as "other".
function _M.rule(self, method)
    local cache = self.rules
    local r = cache[method]
    if r then return r end
    local cached = self.rule_count < RULE_CACHE_SIZE
    r = work_out(self, method, cached)
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

-- The filter keys geth reads, by their folded spelling. Geth decodes a filter with Go's encoding/json, which
-- matches keys case-insensitively under Unicode simple folding (the Kelvin sign U+212A is a "k", the long s
-- U+017F an "s") and lets the last duplicate win: {"fromblock":"0x0"} is a range geth scans.
local FILTER_KEYS = { fromblock = "fromBlock", toblock = "toBlock", blockhash = "blockHash" }

local function folded(key)
    return lower((gsub(gsub(key, "\226\132\170", "k"), "\197\191", "s")))
end

-- True when the filter has a key the backend would read as a range key but that is not spelled as one: the
-- gateway cannot know which of two spellings geth takes (cjson keeps no key order), so it takes neither.
-- Duplicates of the exact spelling need no check: cjson, like Go, keeps the last.
local function misspelled_range_key(filter)
    for k in pairs(filter) do
        if type(k) == "string" then
            local canonical = FILTER_KEYS[folded(k)]
            if canonical and canonical ~= k then return true end
        end
    end
    return false
end

-- Returns nil when the request is within policy, else an error message. `head` resolves block tags (nil
-- when unknown: a tag-based range is then allowed, since it cannot be measured).
function _M.check_params(self, req, head)
    local method = req.method
    if not CHECKED[method] then return nil end
    local filter = type(req.params) == "table" and req.params[1]
    if type(filter) ~= "table" then return nil end
    if misspelled_range_key(filter) then
        return format("%s filter keys must be spelled fromBlock, toBlock and blockHash", method)
    end
    if filter.blockHash ~= nil then return nil end
    local from = block_number(filter.fromBlock, head)
    local to = block_number(filter.toBlock, head)
    if (filter.fromBlock ~= nil and from == nil and head ~= nil) or (filter.toBlock ~= nil and to == nil and head ~= nil) then
        return format("invalid block number in %s filter", method)
    end
    if from and to and to - from + 1 > self.max_logs_range then
        return format("%s block range of %d exceeds the limit of %d", method, to - from + 1, self.max_logs_range)
    end
    return nil
end

return _M
