-- Prometheus metrics kept in a shared dict (so every worker's counts add up) and rendered on scrape.
local pairs, ipairs, tostring, sort, concat = pairs, ipairs, tostring, table.sort, table.concat
local format, gsub, match, sub = string.format, string.gsub, string.match, string.sub

local _M = { _VERSION = "0.1.0" }

-- Upstream latency buckets in seconds.
_M.BUCKETS = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }

local HELP = {
    ethnode_gateway_requests_total = { "counter", "JSON-RPC calls by method and outcome (batch elements count one each)." },
    ethnode_gateway_rejections_total = { "counter", "Calls or HTTP requests rejected by the gateway, by reason." },
    ethnode_gateway_upstream_latency_seconds = { "histogram", "Time from sending to a backend to its full response." },
    ethnode_gateway_upstream_requests_total = { "counter", "HTTP requests sent to each backend, by status class." },
    ethnode_gateway_backend_healthy = { "gauge", "1 when the backend is up, synced and within the lag limit." },
    ethnode_gateway_backend_head_block = { "gauge", "The backend's head block at its last health check." },
    ethnode_gateway_pool_head_block = { "gauge", "The best head block across healthy backends." },
    ethnode_gateway_requests_in_flight = { "gauge", "Admitted requests not finished yet, per worker (their sum is the gateway's)." },
    ethnode_gateway_ws_requests_total = { "counter", "JSON-RPC calls over WebSocket by method and outcome (forwarded, denied, rate_limited)." },
    ethnode_gateway_ws_connections = { "gauge", "Open WebSocket sessions, per worker." },
    ethnode_gateway_ws_closed_total = { "counter", "WebSocket sessions ended, by reason." },
    ethnode_gateway_dict_errors_total = { "counter", "Shared-dict failures (the limiter then fails open or closed as configured)." },
}

local function escape(v)
    return (gsub(gsub(gsub(tostring(v), "\\", "\\\\"), "\n", "\\n"), '"', '\\"'))
end

local function series(name, labels)
    if not labels then return name end
    local keys = {}
    for k in pairs(labels) do keys[#keys + 1] = k end
    sort(keys)
    local parts = {}
    for i, k in ipairs(keys) do parts[i] = format('%s="%s"', k, escape(labels[k])) end
    return name .. "{" .. concat(parts, ",") .. "}"
end

-- Counts accumulate in the worker and reach the shared dict on `flush` (a timer calls it every second):
-- the request path then costs no shared-memory lock at all.
function _M.new(dict)
    return setmetatable({ dict = dict, pending = {} }, { __index = _M })
end

-- Adds to a series by its key, built once by the caller (see `key` and `memo`).
function _M.add(self, key, value)
    local pending = self.pending
    pending[key] = (pending[key] or 0) + value
end

_M.key = series

-- Memoizes build(value): a series key (or a histogram's keys) is built once per label value, so counting
-- a request costs one table lookup.
function _M.memo(build)
    local cache = {}
    return function(value)
        local v = cache[value]
        if v == nil then
            v = build(value)
            cache[value] = v
        end
        return v
    end
end

-- Precomputed bucket, sum and count keys of one histogram label set, for `observe_keys`.
function _M.histogram_keys(name, labels)
    local keys = { sum = series(name .. "_sum", labels), count = series(name .. "_count", labels), buckets = {} }
    local l = {}
    for k, v in pairs(labels) do l[k] = v end
    for i, b in ipairs(_M.BUCKETS) do
        l.le = tostring(b)
        keys.buckets[i] = series(name .. "_bucket", l)
    end
    l.le = "+Inf"
    keys.buckets[#_M.BUCKETS + 1] = series(name .. "_bucket", l)
    return keys
end

-- The bounds padded to 16 with +Inf, for a binary search of four fixed steps.
local PADDED = {}
assert(#_M.BUCKETS < 16, "bucket_index searches at most 16 buckets")
for i = 1, 16 do PADDED[i] = _M.BUCKETS[i] or math.huge end

-- The first bucket whose bound holds `seconds` (#BUCKETS + 1 is +Inf). Four comparisons and no loop: this
-- runs in every request's log phase, which LuaJIT compiles whole only while it has no loop.
local function bucket_index(seconds)
    local i = 1
    if seconds > PADDED[i + 7] then i = i + 8 end
    if seconds > PADDED[i + 3] then i = i + 4 end
    if seconds > PADDED[i + 1] then i = i + 2 end
    if seconds > PADDED[i] then i = i + 1 end
    return i
end
_M.bucket_index = bucket_index

function _M.observe_keys(self, keys, seconds)
    self:add(keys.buckets[bucket_index(seconds)], 1)
    self:add(keys.sum, seconds)
    self:add(keys.count, 1)
end

-- Moves the worker's counts into the shared dict. Returns the number of failed writes (dict full).
function _M.flush(self)
    local pending, failed = self.pending, 0
    self.pending = {}
    for key, v in pairs(pending) do
        if not self.dict:incr(key, v, 0) then failed = failed + 1 end
    end
    return failed
end

function _M.set(self, name, labels, value)
    return self.dict:set(series(name, labels), value)
end

-- Rewrites one histogram's raw bucket series (per label set) as cumulative series, in bucket order.
local function cumulative(raw)
    local groups, order = {}, {}
    for key, v in pairs(raw) do
        local base, le = match(key, '^(.-)le="([^"]+)"')
        local rest = sub(key, #base + #le + 6)
        local id = base .. "\0" .. rest
        if not groups[id] then
            groups[id] = { base = base, rest = rest, counts = {} }
            order[#order + 1] = id
        end
        groups[id].counts[le] = v
    end
    sort(order)
    local out = {}
    for _, id in ipairs(order) do
        local g, total = groups[id], 0
        local names = {}
        for _, b in ipairs(_M.BUCKETS) do names[#names + 1] = tostring(b) end
        names[#names + 1] = "+Inf"
        for _, le in ipairs(names) do
            total = total + (g.counts[le] or 0)
            out[#out + 1] = format('%sle="%s"%s %s', g.base, le, g.rest, tostring(total))
        end
    end
    return out
end

-- Renders every series in the dict, grouped by metric family, with HELP and TYPE lines.
function _M.render(self)
    local keys = self.dict:get_keys(0)
    sort(keys)
    local out, seen, buckets = {}, {}, {}
    local function header(family)
        local meta = HELP[family]
        if meta and not seen[family] then
            seen[family] = true
            out[#out + 1] = format("# HELP %s %s\n# TYPE %s %s", family, meta[2], family, meta[1])
        end
    end
    for _, key in ipairs(keys) do
        local name = match(key, "^[%w_:]+")
        local v = self.dict:get(key)
        if v ~= nil then
            local family = match(name, "^(.-)_bucket$")
            if family then
                buckets[family] = buckets[family] or {}
                buckets[family][key] = v
            else
                family = gsub(gsub(name, "_sum$", ""), "_count$", "")
                if buckets[family] then
                    header(family)
                    for _, line in ipairs(cumulative(buckets[family])) do out[#out + 1] = line end
                    buckets[family] = nil
                end
                header(HELP[family] and family or name)
                out[#out + 1] = key .. " " .. tostring(v)
            end
        end
    end
    for family, raw in pairs(buckets) do
        header(family)
        for _, line in ipairs(cumulative(raw)) do out[#out + 1] = line end
    end
    return concat(out, "\n") .. "\n"
end

return _M
