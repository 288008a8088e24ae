-- The gateway's nginx phases, thin: each reads what nginx hands it, asks the module that decides (ethnode.pipeline
-- for a JSON-RPC body, ethnode.healthcheck for the backends, ethnode.websocket for a session) and writes the
-- answer. Every entry point runs guarded (ethnode.guard).
local jsonrpc = require("ethnode.jsonrpc")
local policy_mod = require("ethnode.policy")
local limiter_mod = require("ethnode.limiter")
local upstream_mod = require("ethnode.upstream")
local metrics_mod = require("ethnode.metrics")
local pipeline_mod = require("ethnode.pipeline")
local healthcheck = require("ethnode.healthcheck")
local bounded = require("ethnode.bounded")
local websocket = require("ethnode.websocket")
local guard = require("ethnode.guard")
local receive_by = require("ethnode.deadline").receive

local ngx = ngx
local ipairs, pairs, next, type, tostring, tonumber = ipairs, pairs, next, type, tostring, tonumber
local concat = table.concat
local floor, min = math.floor, math.min
local find, sub, gmatch, lower, match = string.find, string.sub, string.gmatch, string.lower, string.match

local _M = { _VERSION = "0.1.0" }

local balancer = require("ngx.balancer")
local ffi = require("ffi")
local get_request = require("resty.core.base").get_request
local cast = ffi.cast
local C = ffi.C
ffi.cdef([[
int getppid(void);
int kill(int pid, int sig);
]])

-- The current request's address as a number: get_request() gives a fresh cdata pointer on every call, which
-- would never find itself again as a table key.
local function request_id()
    return tonumber(cast("uintptr_t", get_request()))
end

local conf, keys, has_keys, policy, limiter, pool, metrics, pipeline, checker, release_line

-- What the access phase hands to the balancer and the log phase, per admitted request, keyed by the request
-- itself. (ngx.ctx would do, at ~1,100 instructions per request for its registry reference and cleanup
-- handler; and an internal redirect empties it.) Every admitted request ends in a location whose log phase
-- takes its entry back (/_jsonrpc_error too); the bound only guards against a path that would not, since a
-- worker never has more requests in flight than worker_connections.
local inflight = bounded.new(65536)

-- How many WebSocket sessions this worker holds (a gauge, set every second), and the bytes of their
-- unfinished messages (a fragmented message is held whole before it is judged).
local ws_sessions, ws_buffered = 0, 0

local function remember(state)
    if inflight:put(request_id(), state) then
        ngx.log(ngx.ERR, "ethnode: ", inflight.max, " requests' state never taken back; dropped it")
    end
end

-- The state of the current request, removed from the table; nil when it was not admitted.
local function take_back()
    return inflight:take(request_id())
end

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
    -- Which release serves (its directory's name): what a deploy waits for after a reload, and what an operator
    -- compares across nodes.
    release_line = "# HELP ethnode_gateway_release_info The gateway release serving (its directory's name).\n"
        .. "# TYPE ethnode_gateway_release_info gauge\n"
        .. string.format('ethnode_gateway_release_info{release="%s"} 1\n', conf_path:match("([^/]+)/[^/]+$") or "")
    keys = {}
    if keys_path then
        local k = read_json(keys_path)
        if type(k) == "table" then keys = k end
    end
    -- The limiter's bucket for a key, by its name (the key itself never reaches a dict or a log).
    for _, k in pairs(keys) do k.id = "key:" .. tostring(k.name) end
    has_keys = next(keys) ~= nil
    policy = policy_mod.new({ allow = conf.allow, weights = conf.weights, max_logs_range = conf.max_logs_range })
end

local function http_request(host, port, req, timeout_ms)
    local sock = ngx.socket.tcp()
    sock:settimeouts(timeout_ms, timeout_ms, timeout_ms)
    local ok, err = sock:connect(host, port)
    if not ok then return nil, err end
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

local function http_post(host, port, body, timeout_ms)
    return http_request(host, port, concat({
        "POST / HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ",
        tostring(#body), "\r\n\r\n", body,
    }), timeout_ms)
end

local function http_get(host, port, path, timeout_ms)
    return http_request(host, port, "GET " .. path .. " HTTP/1.0\r\nHost: localhost\r\nAccept: application/json\r\n\r\n", timeout_ms)
end

-- Whether the operator (or a rolling upgrade, through `ethnode drain`) has taken this node out of service:
-- a file, so a restarted gateway keeps the state and a rebooted host (tmpfs) comes back in service.
local function drain_requested()
    local path = conf.drain_file
    if not path then return false end
    local f = io.open(path, "r")
    if not f then return false end
    f:close()
    return true
end

-- The RateLimit-* headers of an admitted call (rateLimitHeaders: always); a WebSocket message has none.
local function limit_headers(burst, remaining, reset)
    if ngx.get_phase() == "content" then return end
    local h = ngx.header
    h["RateLimit-Limit"] = burst
    h["RateLimit-Remaining"] = remaining
    h["RateLimit-Reset"] = reset
end

-- init_worker_by_lua: shared-dict handles, the pipeline, and the health checker (one worker probes per interval).
function _M.init_worker()
    -- WebSocket masking keys and handshake nonces: unpredictable per worker.
    local urandom = io.open("/dev/urandom", "rb")
    local seed = urandom and urandom:read(4)
    if urandom then urandom:close() end
    math.randomseed(seed and (seed:byte(1) * 16777216 + seed:byte(2) * 65536 + seed:byte(3) * 256 + seed:byte(4)) or ngx.now() * 1000 + ngx.worker.pid())
    limiter = limiter_mod.new(ngx.shared.ethnode_limits, { fail_open = conf.fail_open })
    pool = upstream_mod.new(ngx.shared.ethnode_upstreams, conf.backends, conf.max_lag)
    metrics = metrics_mod.new(ngx.shared.ethnode_metrics)
    pipeline = pipeline_mod.new({
        policy = policy, limiter = limiter, pool = pool, metrics = metrics, conf = conf, limit_headers = limit_headers,
        warn = function(...) ngx.log(ngx.WARN, ...) end,
    })
    checker = healthcheck.new({
        backends = conf.backends, pool = pool, dict = ngx.shared.ethnode_upstreams, metrics = metrics,
        fall = conf.health_fall, rise = conf.health_rise, drained = drain_requested,
        probe = function(b) return http_post(b.host, b.port, upstream_mod.PROBE_BODY, conf.probe_timeout_ms) end,
        consensus = conf.consensus_api and function()
            return http_get(conf.consensus_api.host, conf.consensus_api.port, "/eth/v1/node/syncing", conf.probe_timeout_ms)
        end,
    })
    local interval = conf.health_interval
    local function tick(premature)
        if premature then return end
        -- The lock expires just before the next tick: exactly one worker probes per interval.
        if ngx.shared.ethnode_upstreams:add("lock:probe", 1, interval * 0.9) then
            guard.run("health check", checker.round, checker)
        end
    end
    ngx.timer.at(0, tick)
    ngx.timer.every(interval, tick)
    -- A worker whose master is gone (killed outright) would hold the listening sockets for ever, and the
    -- restarted master could not bind them: it leaves, gracefully, within a second of noticing.
    local master = C.getppid()
    ngx.timer.every(1, guard.wrap("master watch", function(premature)
        if premature or C.getppid() == master then return end
        io.stderr:write("ethnode-gateway: master ", master, " is gone; worker ", ngx.worker.pid(), " leaves\n")
        C.kill(ngx.worker.pid(), 3)
    end))
    ngx.timer.every(1, guard.wrap("metrics timer", function(premature)
        if premature then return end
        metrics:set("ethnode_gateway_requests_in_flight", { worker = ngx.worker.id() }, inflight.count)
        metrics:set("ethnode_gateway_ws_connections", { worker = ngx.worker.id() }, ws_sessions)
        metrics:set("ethnode_gateway_ws_buffered_bytes", { worker = ngx.worker.id() }, ws_buffered)
        local failed = metrics:flush()
        if failed > 0 then ngx.log(ngx.WARN, "ethnode: metrics dict full, dropped ", failed, " series updates") end
    end))
end

-- The request path calls these for every request: looked up once (resty.core's FFI versions, loaded
-- before init_by_lua runs).
local req_get_method = ngx.req.get_method
local req_read_body = ngx.req.read_body
local req_get_body_data = ngx.req.get_body_data
local req_get_body_file = ngx.req.get_body_file
local ngx_now = ngx.now
local ngx_var = ngx.var
local ngx_header = ngx.header

local memo, series_key = metrics_mod.memo, metrics_mod.key
local HTTP, WS = pipeline_mod.HTTP, pipeline_mod.WS
local HTTP_CALLS, WS_CALLS = HTTP.calls, WS.calls
local status_key = memo(function(class) return series_key("ethnode_gateway_upstream_requests_total", { code = class .. "xx" }) end)
local latency_keys = memo(function(backend)
    return metrics_mod.histogram_keys("ethnode_gateway_upstream_latency_seconds", { backend = backend })
end)

local function reject(reason, n)
    pipeline.reject(reason, n)
end

local function send(status, body, headers)
    ngx.status = status
    ngx_header["Content-Type"] = "application/json"
    if headers then
        for k, v in pairs(headers) do ngx_header[k] = v end
    end
    ngx.print(body)
    return ngx.exit(status)
end

local function send_verdict(v)
    return send(v.status, v.body, v.headers)
end

local function send_error(status, code, message, id, reason)
    reject(reason)
    return send(status, jsonrpc.encode_error(id, code, message))
end

-- Who is asking: a valid API key (its own limit) or the client address; nil for a key that names nothing.
-- The key is the X-Api-Key header, else — on the keyed locations only — the path segment; nginx's
-- $ethnode_client says which, in one lookup. With no keys configured, an X-Api-Key header names nothing:
-- the address alone answers (a cheaper lookup).
local function identity(keyed)
    if not has_keys and not keyed then return ngx_var.remote_addr, conf.ip_rate, conf.ip_burst end
    local client = ngx_var.ethnode_client
    local key
    if client == "key" then
        key = ngx_var.http_x_api_key
    elseif keyed then
        key = ngx_var.path_key
    end
    if key then
        local k = keys[key]
        if not k then return nil end
        return k.id, k.rate, k.burst
    end
    return client, conf.ip_rate, conf.ip_burst
end

-- A key that names nothing costs its address a unit, like any refused work: guessing keys ends in 429.
local function bad_key()
    local over = pipeline.charge(ngx_var.remote_addr, conf.ip_rate, conf.ip_burst, 1, ngx_now())
    if over then return send_verdict(over) end
    return send_error(401, -32001, "unknown API key", nil, "bad_key")
end

-- A body past the in-memory buffer, which nginx has written to a temp file (its size nginx has capped).
local function body_from_file(path)
    if not path then return nil end
    local f = io.open(path, "rb")
    if not f then return nil end
    local body = f:read("*a")
    f:close()
    return body
end

local EMPTY_BODY = jsonrpc.encode_error(nil, jsonrpc.PARSE_ERROR, "empty body")

-- The first members of nginx's ngx_http_request_t and ngx_buf_t (unchanged through nginx 1.x, in builds with
-- the cache module such as Debian's and OpenResty's): enough to see whether nginx read the whole body along
-- with the headers. Only ever used to skip work: a wrong reading sends a body down the deadline path below.
ffi.cdef([[
typedef struct { unsigned char *pos; unsigned char *last; } ethnode_buf_head_t;
typedef struct {
    uint32_t signature; void *connection; void **ctx; void **main_conf; void **srv_conf; void **loc_conf;
    void *read_event_handler; void *write_event_handler; void *cache; void *upstream; void *upstream_states;
    void *pool; ethnode_buf_head_t *header_in;
} ethnode_request_head_t;
]])
local request_head = ffi.typeof("ethnode_request_head_t *")
local HTTP_SIGNATURE = 0x50545448 -- "HTTP"

-- Whether exactly the `len` bytes of the body are already in nginx's header buffer.
local function body_preread(len)
    local r = cast(request_head, get_request())
    if r.signature ~= HTTP_SIGNATURE then return false end
    local h = r.header_in
    return h ~= nil and h.last - h.pos == len
end

-- nginx's client_body_buffer_size (nginx.conf): what a body in progress may hold in memory, and so the most
-- read from a client at once.
local BODY_BUFFER = 16384

-- Reads the request body, all of it within bodyTimeoutSec: nginx's client_body_timeout is per read, so a
-- client trickling a byte at a time would hold its connection as long as it liked. A body that came whole with
-- the headers (the usual case) is nginx's to take; the rest is read here against the deadline. Returns the
-- body (nil when empty), or false and the status to answer. A chunked body is nginx's (per-read timeout only).
local function read_body(who, rate, burst)
    local len = tonumber(ngx_var.content_length)
    local sock = len and len > 0 and not body_preread(len) and ngx.req.socket()
    -- A caller already over its limit gets its 429 before a large body is read and buffered to disk.
    if sock and len > BODY_BUFFER and limiter:exhausted(who, rate, burst, ngx_now()) then return false, 429, sock, len end
    if not sock then
        req_read_body()
        return req_get_body_data() or body_from_file(req_get_body_file())
    end
    local deadline = ngx_now() + conf.body_timeout
    -- Into nginx's own body buffer: BODY_BUFFER in memory, then a temp file, as read_body would do.
    ngx.req.init_body(min(len, BODY_BUFFER))
    local left = len
    while left > 0 do
        local data, err = receive_by(sock, min(left, BODY_BUFFER), deadline, ngx_now)
        if not data then return false, err == "timeout" and 408 or 400 end
        ngx.req.append_body(data)
        left = left - #data
    end
    ngx.req.finish_body()
    return req_get_body_data() or body_from_file(req_get_body_file())
end

-- Reads and drops what is left of a body nobody will use, while it keeps coming (a pause of DROP_IDLE_SEC ends
-- it) and within the time a body has to arrive. Closing a socket with unread bytes in it sends a reset, which
-- can reach the client before it has read its answer: the 429 would arrive as a connection error, which
-- clients retry at once instead of after Retry-After.
local DROP_IDLE_SEC = 1
local function drop_body(sock, left)
    local deadline = ngx_now() + conf.body_timeout
    while left > 0 do
        local data = receive_by(sock, min(left, BODY_BUFFER), min(deadline, ngx_now() + DROP_IDLE_SEC), ngx_now)
        if not data then return end
        left = left - #data
    end
end

-- The media types geth takes (rpc/http.go), parameters and case aside; anything else it answers 415 in plain
-- text, so the gateway answers it first, as JSON-RPC.
local JSON_TYPES = { ["application/json"] = true, ["application/json-rpc"] = true, ["application/jsonrequest"] = true }
local function json_content(ctype)
    if ctype == "application/json" then return true end
    if type(ctype) ~= "string" then return false end
    return JSON_TYPES[lower(match(ctype, "^%s*([^;%s]+)") or "")] == true
end

-- access_by_lua for the public JSON-RPC locations (`keyed`: the one with an API key in the path).
function _M.access(keyed)
    if req_get_method() ~= "POST" then
        return send_error(405, jsonrpc.INVALID_REQUEST, "JSON-RPC requires POST", nil, "method_not_post")
    end
    local who, rate, burst = identity(keyed)
    if not who then return bad_key() end
    if not json_content(ngx_var.http_content_type) then
        local over = pipeline.charge(who, rate, burst, 1, ngx_now())
        if over then return send_verdict(over) end
        return send_error(415, jsonrpc.INVALID_REQUEST, "content type must be application/json", nil, "content_type")
    end
    local body, status, sock, len = read_body(who, rate, burst)
    if body == false and status == 429 then
        -- The answer, then the connection closes: the rest of the body is read only to be dropped, never
        -- buffered, and the connection is not kept for another request.
        reject("rate_limited")
        ngx.status = 429
        ngx_header["Content-Type"] = "application/json"
        ngx_header["Retry-After"] = 1
        ngx_header["Connection"] = "close"
        ngx.print(jsonrpc.encode_error(nil, jsonrpc.LIMIT_EXCEEDED, "rate limit exceeded"))
        ngx.eof()
        drop_body(sock, len)
        return ngx.exit(444)
    end
    if body == false then
        -- Like any refused work, a body that never came costs the caller (nginx closes the connection on 408).
        pipeline.charge(who, rate, burst, 1, ngx_now())
        return send_error(status, jsonrpc.INVALID_REQUEST, status == 408 and "request body timeout" or "bad request body", nil, "slow_body")
    end
    local now = ngx_now()
    local v
    if body then
        v = pipeline.judge(body, who, rate, burst, now, HTTP)
    else
        v = pipeline.charge(who, rate, burst, 1, now)
        if not v then
            reject("parse_error")
            v = pipeline_mod.answer(400, EMPTY_BODY)
        end
    end
    if v.answer then return send_verdict(v) end
    -- Something goes upstream: the verdict is the request's carrier to the balancer and the log phase.
    v.t0 = now
    remember(v)
    if v.forward then return end
    -- Part of a batch: its forwarded elements go upstream, and the answers are spliced with ours.
    local res = ngx.location.capture("/_upstream", {
        method = ngx.HTTP_POST,
        body = v.body,
        args = { i = v.idempotent and "1" or "0", f = v.fast and "1" or "0" },
    })
    local out
    if res.status == 200 then status, out = pipeline.finish(v, res.body) else status = nil end
    if not status then return send(502, jsonrpc.encode_error(nil, jsonrpc.INTERNAL_ERROR, "upstream error")) end
    return send(status, out)
end

local NOT_UTF8 = jsonrpc.encode_error(nil, jsonrpc.PARSE_ERROR, "not UTF-8")
local ws_closed_key = memo(function(reason) return series_key("ethnode_gateway_ws_closed_total", { reason = reason }) end)

-- A refused batch over WebSocket when too many of the connection's batches already wait for a splice.
local function busy_batch(state)
    local errs = {}
    for i, item in ipairs(state.items) do
        if item.req and item.req.id ~= nil and not state.answers[i] then errs[i] = pipeline_mod.limited(item.req.id) end
    end
    for i, a in pairs(state.answers) do errs[i] = a end
    reject("ws_pending", #state.ids)
    return pipeline.local_batch(200, state.items, errs, state.raw).body
end

-- The bytes a session's unfinished message may hold: within the worker's share and the client address's
-- (across workers, in the limits dict). The address's count lives as long as messages keep arriving, at
-- least twice as long as any one message may take, so a worker that died holding some cannot block it for ever.
local function ws_buffer(addr, ws)
    local dict, key = ngx.shared.ethnode_limits, "wsbuf:" .. addr
    local ttl = ws.message_sec * 2 + 10
    return {
        reserve = function(n)
            if ws_buffered + n > ws.max_buffered_worker then return false end
            local total = dict:incr(key, n, 0, ttl)
            -- A dict that cannot count refuses: this bound protects the worker's memory.
            if not total then return false end
            if total > ws.max_buffered_ip then
                dict:incr(key, -n)
                return false
            end
            dict:expire(key, ttl)
            ws_buffered = ws_buffered + n
            return true
        end,
        release = function(n)
            ws_buffered = ws_buffered - n
            local left = dict:incr(key, -n)
            if left and left < 0 then dict:set(key, 0, ttl) end
        end,
    }
end

-- content_by_lua for /ws (`keyed`: /ws/<key>): the client's handshake, then a session in which every message
-- passes `judge` like an HTTP body — allow-list, params, batch limits, the caller's rate limit — before it
-- reaches Geth's WebSocket. The caller is who opened the connection (its address or key), fixed for the session.
function _M.websocket(keyed)
    local who, rate, burst = identity(keyed)
    if not who then return bad_key() end
    local key, status, why = websocket.client_key()
    if not key then return send_error(status, jsonrpc.INVALID_REQUEST, why, nil, "ws_handshake") end
    if not pool:any_healthy() then return send_verdict(pipeline.no_upstream(1)) end
    local ws = conf.ws
    local upstream, err, refused_status = websocket.connect(ws.host, ws.port, ngx_var.http_origin, 2000)
    if not upstream then
        ngx.log(ngx.WARN, "ethnode: WebSocket backend: ", err)
        if refused_status == 403 then return send_error(403, jsonrpc.INVALID_REQUEST, "origin not allowed", nil, "ws_origin") end
        return send_error(502, jsonrpc.INTERNAL_ERROR, "upstream error", nil, "upstream_error")
    end
    local client
    client, err = websocket.accept(key)
    if not client then
        upstream:close()
        return ngx.log(ngx.INFO, "ethnode: WebSocket client gone during the handshake: ", err)
    end
    ws_sessions = ws_sessions + 1
    local opts = {
        max_message = ws.max_message, frame_sec = ws.frame_sec, message_sec = ws.message_sec, idle_sec = ws.idle_sec,
        send_ms = ws.frame_sec * 1000, not_utf8 = NOT_UTF8, notify_rate = ws.notify_rate, notify_burst = ws.notify_burst,
        buffer = ws_buffer(ngx_var.remote_addr, ws),
    }
    local ok, failure = pcall(websocket.run, client, upstream, opts, function(payload)
        local v = pipeline.judge(payload, who, rate, burst, ngx_now(), WS)
        if v.answer then return v.body end
        local count = WS_CALLS("forwarded")
        if v.label then
            metrics:add(count(v.label), 1)
        else
            for i = 1, #v.labels do metrics:add(count(v.labels[i]), 1) end
        end
        if v.forward then return nil, true end
        return nil, v.body, {
            ids = v.ids,
            finish = function(message) return select(2, pipeline.finish(v, message)) or message end,
            refuse = function() return busy_batch(v) end,
        }
    end, function(reason) metrics:add(ws_closed_key(reason), 1) end)
    ws_sessions = ws_sessions - 1
    if not ok then ngx.log(ngx.ERR, "ethnode: WebSocket session failed: ", failure) end
end

-- balancer_by_lua (rendered only with several backends): a healthy backend; on a failed idempotent read,
-- one retry on a different backend.
function _M.balancer()
    -- A batch's forwarded part is a subrequest, admitted by its parent: it keeps its tries in ngx.ctx.
    local ctx = inflight:get(request_id()) or ngx.ctx
    local failed = ctx.backend
    local b = pool:pick(failed and failed.name)
    if not b then return ngx.exit(502) end
    ctx.backend = b
    ctx.tries = (ctx.tries or 0) + 1
    if not failed then
        local idem = ctx.idempotent
        if idem == nil then idem = ngx_var.arg_i == "1" end
        if idem then balancer.set_more_tries(1) end
        -- A cheap read (weight 1, idempotent) that has not answered within fast_timeout is retried on another
        -- node: a hung execution client then costs seconds, not upstream_timeout.
        local fast = ctx.fast
        if fast == nil then fast = ngx_var.arg_f == "1" end
        -- nil keeps the location's connect and send timeouts: only the read timeout is this call's own.
        if fast and conf.fast_timeout then balancer.set_timeouts(nil, nil, conf.fast_timeout) end
    end
    local ok, err = balancer.set_current_peer(b.host, b.port)
    if not ok then ngx.log(ngx.WARN, "ethnode: set_current_peer: ", err) end
end

local function count_status(status)
    metrics:add(status_key(floor(status / 100)), 1)
end

local function observe_latency(backend, seconds)
    metrics:observe_keys(latency_keys(backend), seconds)
end

-- Latency and status of the tries nginx made.
local function count_tries(ctx, status)
    -- With one backend (no balancer) the name is known; otherwise the balancer recorded its last pick.
    local backend = ctx.backend or pool.backends[1]
    local tries = ctx.tries
    if not tries or tries == 1 then
        -- One try: its status is the response's, and its time is the time since the request was admitted
        -- (nginx's cached clock: the same millisecond resolution as $upstream_response_time, without
        -- formatting and parsing that string on every request).
        observe_latency(backend.name, ngx_now() - ctx.t0)
        count_status(status)
        return
    end
    -- After a retry nginx lists every try ("0.001, 0.002"): the last one answered; each counts by its status.
    local times = ngx_var.upstream_response_time
    local t = times and tonumber(times:match("([%d.]+)$"))
    if t then observe_latency(backend.name, t) end
    local statuses = ngx_var.upstream_status
    if statuses then
        for st in gmatch(statuses, "%d+") do count_status(tonumber(st)) end
    end
end

-- log_by_lua: outcomes by method label and upstream latency.
function _M.log()
    local ctx = take_back()
    if not ctx then return end
    local status = ngx.status
    count_tries(ctx, status)
    local count = HTTP_CALLS(status < 300 and "ok" or "upstream_error")
    local label = ctx.label
    if label then return metrics:add(count(label), 1) end
    -- A batch's calls come last: LuaJIT leaves the rest of a function after a loop to its interpreter.
    local labels = ctx.labels
    for i = 1, #labels do metrics:add(count(labels[i]), 1) end
end

-- A status code nginx itself produced (body too large, upstream gone): answer as JSON-RPC. A call that was
-- admitted and whose backend refused, failed or timed out is not a rejection: the log phase of this location
-- counts it like any forwarded call (outcome upstream_error, its latency, its 5xx).
-- nginx's own error statuses: the rejection reason counted, the message and JSON-RPC code answered.
local NGINX_ERRORS = {
    reasons = {
        [400] = "bad_request", [408] = "slow_body", [413] = "body_too_large", [414] = "uri_too_long", [429] = "too_many_connections",
        [501] = "not_implemented", [502] = "upstream_error", [504] = "upstream_timeout",
    },
    messages = {
        [400] = "bad request", [408] = "request body timeout", [413] = "request body too large", [414] = "request URI too long",
        [429] = "too many requests in progress from this address", [501] = "not implemented", [502] = "upstream error",
        [504] = "upstream timeout",
    },
    codes = {
        [400] = jsonrpc.INVALID_REQUEST, [413] = jsonrpc.INVALID_REQUEST, [414] = jsonrpc.INVALID_REQUEST, [429] = jsonrpc.LIMIT_EXCEEDED,
        [501] = jsonrpc.INVALID_REQUEST,
    },
}

function _M.error_page()
    local status = tonumber(ngx.var.status) or ngx.status
    local reasons, messages, codes = NGINX_ERRORS.reasons, NGINX_ERRORS.messages, NGINX_ERRORS.codes
    -- A body nginx refused (too large, too slow) costs the caller like any refused work, capped at its bucket:
    -- once that is empty the answer is 429.
    if status == 413 or status == 408 then
        local who, rate, burst = identity(false)
        if who then
            local units = status == 413 and pipeline_mod.body_units(tonumber(ngx_var.content_length) or 0) or 1
            local over = pipeline.charge(who, rate, burst, units, ngx_now())
            if over then return send_verdict(over) end
        end
    end
    if inflight:get(request_id()) == nil then reject(reasons[status] or "http_" .. status) end
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.print(jsonrpc.encode_error(nil, codes[status] or jsonrpc.INTERNAL_ERROR, messages[status] or "error"))
end

-- /health (ethnode.healthcheck says what): up or down on the public port, every detail on the metrics port.
function _M.health(detailed)
    return send(checker:status(detailed))
end

-- The peer listener's access phase: the other nodes' gateways have judged the call already; a drained node
-- answers 503, which makes them probe it as down and retry elsewhere.
function _M.peer_access()
    local dict = ngx.shared.ethnode_upstreams
    if dict:get("drained") == 1 then
        return send(503, jsonrpc.encode_error(nil, jsonrpc.INTERNAL_ERROR, "node draining"))
    end
    if dict:get("consensus:synced") == 0 then
        return send(503, jsonrpc.encode_error(nil, jsonrpc.INTERNAL_ERROR, "consensus client not synced"))
    end
end

function _M.metrics()
    ngx.header["Content-Type"] = "text/plain; version=0.0.4"
    ngx.print(metrics:render(), release_line)
end

-- Every entry point nginx calls runs guarded (ethnode.guard): our own error is our answer and our own line.
for _, phase in ipairs({ "access", "websocket", "error_page", "health", "peer_access", "metrics" }) do
    _M[phase] = guard.wrap(phase, _M[phase], guard.internal_error)
end
_M.balancer = guard.wrap("balancer", _M.balancer, function() return ngx.exit(ngx.ERROR) end)
_M.log = guard.wrap("log", _M.log)

return _M
