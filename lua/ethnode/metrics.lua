-- Prometheus metrics kept in a shared dict (so every worker's counts add up) and rendered on scrape.
local pairs, ipairs, tostring, sort, concat = pairs, ipairs, tostring, table.sort, table.concat
local format, gsub, match = string.format, string.gsub, string.match

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

function _M.new(dict)
    return setmetatable({ dict = dict }, { __index = _M })
end

function _M.inc(self, name, labels, value)
    local ok, err = self.dict:incr(series(name, labels), value or 1, 0)
    return ok, err
end

function _M.set(self, name, labels, value)
    return self.dict:set(series(name, labels), value)
end

function _M.observe(self, name, labels, seconds)
    labels = labels or {}
    for _, le in ipairs(_M.BUCKETS) do
        if seconds <= le then
            labels.le = tostring(le)
            self:inc(name .. "_bucket", labels)
        end
    end
    labels.le = "+Inf"
    self:inc(name .. "_bucket", labels)
    labels.le = nil
    self:inc(name .. "_sum", labels, seconds)
    self:inc(name .. "_count", labels)
end

-- Renders every series in the dict, grouped by metric family, with HELP and TYPE lines.
function _M.render(self)
    local keys = self.dict:get_keys(0)
    sort(keys)
    local out, seen = {}, {}
    for _, key in ipairs(keys) do
        local name = match(key, "^[%w_:]+")
        local family = gsub(gsub(gsub(name, "_bucket$", ""), "_sum$", ""), "_count$", "")
        local meta = HELP[family] or HELP[name]
        if meta and not seen[family] then
            seen[family] = true
            out[#out + 1] = format("# HELP %s %s\n# TYPE %s %s", family, meta[2], family, meta[1])
        end
        local v = self.dict:get(key)
        if v ~= nil then out[#out + 1] = key .. " " .. tostring(v) end
    end
    return concat(out, "\n") .. "\n"
end

return _M
