-- The gateway's nginx phases: config loading, the request pipeline (parse → policy → limit → route),
-- the balancer with one retry for idempotent reads, the health checker, /health and /metrics.
local jsonrpc = require("ethnode.jsonrpc")
local policy_mod = require("ethnode.policy")
local limiter_mod = require("ethnode.limiter")
local upstream_mod = require("ethnode.upstream")
local metrics_mod = require("ethnode.metrics")

local ngx = ngx
local ipairs, pairs, type, tostring, tonumber = ipairs, pairs, type, tostring, tonumber
local concat, insert = table.concat, table.insert
local find, sub, gmatch = string.find, string.sub, string.gmatch

local _M = { _VERSION = "0.1.0" }

local conf, keys, policy, limiter, pool, metrics

local function read_json(path)
    local f, err = io.open(path, "r")
    if not f then return nil, err end
    local text = f:read("*a")
    f:close()
    return jsonrpc.decode(text)
end

-- init_by_lua: read the rendered config and the (secret) API keys.
function _M.init(conf_path, keys_path)
    local c, err = read_json(conf_path)
    if not c then error("ethnode gateway: cannot read " .. conf_path .. ": " .. tostring(err)) end
    conf = c
    keys = {}
    if keys_path then
        local k = read_json(keys_path)
        if type(k) == "table" then keys = k end
    end
    policy = policy_mod.new({ allow = conf.allow, weights = conf.weights, max_logs_range = conf.max_logs_range })
end

-- init_worker_by_lua: shared-dict handles, and the health checker (one worker probes per interval).
function _M.init_worker()
    limiter = limiter_mod.new(ngx.shared.ethnode_limits, { fail_open = conf.fail_open })
    pool = upstream_mod.new(ngx.shared.ethnode_upstreams, conf.backends, conf.max_lag)
    metrics = metrics_mod.new(ngx.shared.ethnode_metrics)
    local interval = conf.health_interval
    local function tick(premature)
        if premature then return end
        -- The lock expires just before the next tick: exactly one worker probes per interval.
        if ngx.shared.ethnode_upstreams:add("lock:probe", 1, interval * 0.9) then
            _M.probe_all()
        end
    end
    ngx.timer.at(0, tick)
    ngx.timer.every(interval, tick)
    ngx.timer.every(1, function(premature)
        if premature then return end
        local failed = metrics:flush()
        if failed > 0 then ngx.log(ngx.WARN, "ethnode: metrics dict full, dropped ", failed, " series updates") end
    end)
end

local function http_post(host, port, body, timeout_ms)
    local sock = ngx.socket.tcp()
    sock:settimeouts(timeout_ms, timeout_ms, timeout_ms)
    local ok, err = sock:connect(host, port)
    if not ok then return nil, err end
    local req = concat({
        "POST / HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ",
        tostring(#body), "\r\n\r\n", body,
    })
    ok, err = sock:send(req)
    if not ok then sock:close() return nil, err end
    local data
    data, err = sock:receive("*a")
    sock:close()
    if not data then return nil, err end
    local status = tonumber(data:match("^HTTP/%d%.%d (%d%d%d)"))
    local sep = find(data, "\r\n\r\n", 1, true)
    if not status or not sep then return nil, "malformed response" end
    return status, sub(data, sep + 4)
end

function _M.probe_all()
    local results = {}
    for _, b in ipairs(conf.backends) do
        local status, body = http_post(b.host, b.port, upstream_mod.PROBE_BODY, conf.probe_timeout_ms)
        results[b.name] = status == 200 and upstream_mod.read_probe(jsonrpc.decode(body)) or { up = false }
    end
    local best = pool:apply(results)
    for _, b in ipairs(conf.backends) do
        metrics:set("ethnode_gateway_backend_healthy", { backend = b.name }, pool:healthy(b.name) and 1 or 0)
        metrics:set("ethnode_gateway_backend_head_block", { backend = b.name }, results[b.name].head or -1)
    end
    if best then metrics:set("ethnode_gateway_pool_head_block", nil, best) end
end

local function reject(reason, n)
    metrics:inc("ethnode_gateway_rejections_total", { reason = reason }, n or 1)
end

local function send(status, body, headers)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    if headers then
        for k, v in pairs(headers) do ngx.header[k] = v end
    end
    ngx.print(body)
    return ngx.exit(status)
end

local function send_error(status, code, message, id, reason)
    reject(reason)
    return send(status, jsonrpc.encode_error(id, code, message))
end

-- Series keys built once per (method, outcome) and per backend: the log phase only adds numbers.
local request_keys = {}
local function request_key(method, outcome)
    local by_outcome = request_keys[method]
    if not by_outcome then
        by_outcome = {}
        request_keys[method] = by_outcome
    end
    local key = by_outcome[outcome]
    if not key then
        key = metrics_mod.key("ethnode_gateway_requests_total", { method = method, outcome = outcome })
        by_outcome[outcome] = key
    end
    return key
end

local latency_keys = {}
local status_keys = {}

local function ratelimit_headers(state)
    local h = {
        ["RateLimit-Limit"] = tostring(state.limit),
        ["RateLimit-Remaining"] = tostring(state.remaining),
        ["RateLimit-Reset"] = tostring(state.reset),
    }
    if state.retry_after then h["Retry-After"] = tostring(state.retry_after) end
    return h
end

-- Who is asking: a valid API key (its own limit) or the client address (realip has already applied the
-- trusted-proxy rule, so a spoofed X-Forwarded-For from anyone else is ignored).
local function identity()
    -- $ethnode_api_key is the X-Api-Key header, else the key path segment (an nginx map: one lookup).
    local key = ngx.var.ethnode_api_key
    if key ~= "" then
        local k = keys[key]
        if not k then return nil end
        return "key:" .. (k.name or key), k.rate, k.burst
    end
    return "ip:" .. ngx.var.remote_addr, conf.ip_rate, conf.ip_burst
end

-- access_by_lua for the public JSON-RPC location.
function _M.access()
    if ngx.req.get_method() ~= "POST" then
        return send_error(405, jsonrpc.INVALID_REQUEST, "JSON-RPC requires POST", nil, "method_not_post")
    end
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if not body then
        if ngx.req.get_body_file() then
            return send_error(413, jsonrpc.INVALID_REQUEST, "request body too large", nil, "body_too_large")
        end
        return send_error(400, jsonrpc.INVALID_REQUEST, "empty body", nil, "invalid")
    end
    local parsed, code, message, id = jsonrpc.parse(body, conf.max_batch)
    if not parsed then
        return send_error(400, code, message, id, code == jsonrpc.PARSE_ERROR and "parse_error" or "invalid")
    end

    -- Policy, element by element: a rejected element gets its own error; the rest go upstream.
    pool:refresh(ngx.now())
    local head = pool:pool_head()
    local forward, answers, weight, idempotent, methods = {}, {}, 0, true, {}
    for i, item in ipairs(parsed.items) do
        local req = item.req
        if not req then
            reject("invalid")
            answers[i] = jsonrpc.error_object(item.id, item.code, item.err)
        elseif not policy:allowed(req.method) then
            reject("method_denied")
            metrics:add(request_key("other", "denied"), 1)
            if req.id ~= nil then
                answers[i] = jsonrpc.error_object(req.id, jsonrpc.METHOD_NOT_FOUND, "method not allowed: " .. req.method)
            end
        else
            local bad = policy:check_params(req, head)
            if bad then
                reject("params")
                metrics:add(request_key(req.method, "denied"), 1)
                if req.id ~= nil then answers[i] = jsonrpc.error_object(req.id, jsonrpc.INVALID_PARAMS, bad) end
            else
                forward[#forward + 1] = i
                weight = weight + policy:weight(req.method)
                idempotent = idempotent and policy_mod.idempotent(req.method)
                methods[#methods + 1] = req.method
            end
        end
    end

    -- Every element counts against the limit, with its method's weight.
    local rl_headers
    if #forward > 0 then
        local who, rate, burst = identity()
        if not who then
            return send_error(401, -32001, "unknown API key", nil, "bad_key")
        end
        local allowed, state = limiter:take(who, rate, burst, weight, ngx.now())
        if state.err then
            metrics:inc("ethnode_gateway_dict_errors_total")
            ngx.log(ngx.WARN, "ethnode: limiter dict error (", state.err, "), failing ", conf.fail_open and "open" or "closed")
        end
        if not allowed then
            rl_headers = ratelimit_headers(state)
            reject("rate_limited", #forward)
            local errs = {}
            for _, i in ipairs(forward) do
                local req = parsed.items[i].req
                metrics:add(request_key(req.method, "rate_limited"), 1)
                errs[#errs + 1] = jsonrpc.error_object(req.id, jsonrpc.LIMIT_EXCEEDED, "rate limit exceeded")
            end
            local out = parsed.batch and jsonrpc.encode(errs) or jsonrpc.encode(errs[1])
            return send(429, out, rl_headers)
        end
        if not pool:any_healthy() then
            reject("no_upstream", #forward)
            return send(503, jsonrpc.encode_error(nil, jsonrpc.INTERNAL_ERROR, "no healthy upstream"))
        end
        local h = ngx.header
        h["RateLimit-Limit"] = state.limit
        h["RateLimit-Remaining"] = state.remaining
        h["RateLimit-Reset"] = state.reset
    end

    local ctx = ngx.ctx
    ctx.methods = methods
    ctx.idempotent = idempotent

    if #forward == #parsed.items then
        return -- fast path: the original body goes upstream untouched (ids and numbers byte-exact)
    end
    -- Slow path: answer locally what was rejected, forward the rest, splice the answers back in order.
    local locals = {}
    for i = 1, #parsed.items do
        if answers[i] then locals[#locals + 1] = answers[i] end
    end
    if #forward == 0 then
        if #locals == 0 then return send(204, "") end
        return send(200, parsed.batch and jsonrpc.encode(locals) or jsonrpc.encode(locals[1]))
    end
    local sub_reqs = {}
    for _, i in ipairs(forward) do sub_reqs[#sub_reqs + 1] = jsonrpc.encode_request(parsed.items[i].req) end
    local res = ngx.location.capture("/_upstream", {
        method = ngx.HTTP_POST,
        body = "[" .. concat(sub_reqs, ",") .. "]",
        args = { i = idempotent and "1" or "0" },
    })
    local decoded = res.status == 200 and jsonrpc.decode(res.body)
    if type(decoded) ~= "table" then
        return send(502, jsonrpc.encode_error(nil, jsonrpc.INTERNAL_ERROR, "upstream error"))
    end
    for _, r in ipairs(decoded) do insert(locals, r) end
    return send(200, jsonrpc.encode(locals))
end

-- balancer_by_lua: a healthy backend; on a failed idempotent read, one retry on a different backend.
function _M.balancer()
    local balancer = require("ngx.balancer")
    local ctx = ngx.ctx
    local failed = ctx.backend
    local b = pool:pick(failed and failed.name)
    if not b then return ngx.exit(502) end
    ctx.backend = b
    if not failed then
        local idem = ctx.idempotent
        if idem == nil then idem = ngx.var.arg_i == "1" end
        if idem and #conf.backends > 1 then balancer.set_more_tries(1) end
    end
    local ok, err = balancer.set_current_peer(b.host, b.port)
    if not ok then ngx.log(ngx.WARN, "ethnode: set_current_peer: ", err) end
end

local function count_status(status)
    local class = sub(status, 1, 1)
    local key = status_keys[class]
    if not key then
        key = metrics_mod.key("ethnode_gateway_upstream_requests_total", { code = class .. "xx" })
        status_keys[class] = key
    end
    metrics:add(key, 1)
end

-- log_by_lua: outcomes and upstream latency. Methods here all passed the policy (bounded label set).
function _M.log()
    local ctx = ngx.ctx
    local methods = ctx.methods
    if not methods then return end
    local outcome = ngx.status < 300 and "ok" or "upstream_error"
    for i = 1, #methods do
        metrics:add(request_key(methods[i], outcome), 1)
    end
    local backend = ctx.backend
    if not backend then return end
    local times = ngx.var.upstream_response_time
    -- "0.002", or "0.001, 0.002" after a retry (the last try is the one that answered).
    local t = times and (tonumber(times) or tonumber(times:match("([%d.]+)$")))
    if t then
        local keys = latency_keys[backend.name]
        if not keys then
            keys = metrics_mod.histogram_keys("ethnode_gateway_upstream_latency_seconds", { backend = backend.name })
            latency_keys[backend.name] = keys
        end
        metrics:observe_keys(keys, t)
    end
    local statuses = ngx.var.upstream_status
    if statuses then
        if #statuses == 3 then
            count_status(statuses) -- the common case: one try
        else
            for st in gmatch(statuses, "%d+") do count_status(st) end
        end
    end
end

-- A status code nginx itself produced (body too large, upstream gone): answer as JSON-RPC.
function _M.error_page()
    local status = tonumber(ngx.var.status) or ngx.status
    local reasons = { [413] = "body_too_large", [408] = "slow_body", [502] = "upstream_error", [504] = "upstream_timeout" }
    local messages = { [413] = "request body too large", [408] = "request body timeout", [502] = "upstream error", [504] = "upstream timeout" }
    reject(reasons[status] or "http_" .. status)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.print(jsonrpc.encode_error(nil, status == 413 and jsonrpc.INVALID_REQUEST or jsonrpc.INTERNAL_ERROR,
        messages[status] or "error"))
end

function _M.health()
    local backends = {}
    local healthy = 0
    for _, b in ipairs(conf.backends) do
        local ok = ngx.shared.ethnode_upstreams:get("ok:" .. b.name) == 1
        if ok then healthy = healthy + 1 end
        backends[#backends + 1] = {
            name = b.name,
            healthy = ok,
            head = ngx.shared.ethnode_upstreams:get("head:" .. b.name),
            state = ngx.shared.ethnode_upstreams:get("why:" .. b.name) or "unchecked",
        }
    end
    return send(healthy > 0 and 200 or 503, jsonrpc.encode({ healthy = healthy, backends = backends, head = pool:pool_head() }))
end

function _M.metrics()
    ngx.header["Content-Type"] = "text/plain; version=0.0.4"
    ngx.print(metrics:render())
end

return _M
