-- The gateway's decision on one JSON-RPC body, the same for HTTP and WebSocket: parse (the scanner first, the
-- full parser when it must), policy, the caller's limit, the pool's health. Pure: the policy, limiter, pool and
-- metrics it works with and the hooks it calls are handed to `new`, so tests run it under plain LuaJIT with
-- stand-ins (tests/lua/pipeline_test.lua).
--
-- `judge` returns a verdict table, which is also the request's carrier from the access phase to the balancer and
-- the log phase (`t0`, `backend` and `tries` are added on the way):
--   { answer = true, status, body, headers }             answered here (a refusal, a 429, a 503)
--   { forward = true, label | labels, idempotent, fast }  the body goes upstream as it came
--   { partial = true, body, labels, idempotent, fast, items, raw, answers, ids }
--                                                         part of a batch goes upstream; `finish` splices
local jsonrpc = require("ethnode.jsonrpc")
local scan = require("ethnode.scan")
local metrics_mod = require("ethnode.metrics")

local ipairs, type, floor = ipairs, type, math.floor
local concat = table.concat
local new_tab = require("table.new")

local _M = { _VERSION = "0.1.0" }

-- Series keys are built once per label value: counting a call then only adds a number in a worker-local table.
local memo, series_key = metrics_mod.memo, metrics_mod.key
_M.DICT_ERRORS = series_key("ethnode_gateway_dict_errors_total")
local reject_key = memo(function(reason) return series_key("ethnode_gateway_rejections_total", { reason = reason }) end)

-- Calls by outcome and method, one metric per transport: `calls(outcome)(method)` is a series key.
local function counts_of(metric)
    return memo(function(outcome)
        return memo(function(method) return series_key(metric, { method = method, outcome = outcome }) end)
    end)
end
-- What judge needs to know of the transport a body came by: its counters, and whether only strict JSON may go
-- on (over WebSocket Geth ends the whole session, subscriptions and all, on a message it cannot parse).
_M.HTTP = { calls = counts_of("ethnode_gateway_requests_total"), strict = false }
_M.WS = { calls = counts_of("ethnode_gateway_ws_requests_total"), strict = true }

local RATE_LIMITED = jsonrpc.encode_error(nil, jsonrpc.LIMIT_EXCEEDED, "rate limit exceeded")
local NO_UPSTREAM = jsonrpc.encode_error(nil, jsonrpc.INTERNAL_ERROR, "no healthy upstream")

local function answer(status, body, headers)
    return { answer = true, status = status, body = body, headers = headers }
end
_M.answer = answer

-- What refusing a body of `bytes` costs: a unit per started 16 KiB (a 1 MiB junk body costs 64).
function _M.body_units(bytes)
    return 1 + floor(bytes / 16384)
end

-- A cheap read: idempotent, and every call of weight 1 (weight == calls). On a node with peers the balancer gives
-- it fast_timeout before it retries elsewhere.
local function cheap(idempotent, weight, calls)
    return idempotent and weight == calls
end
_M.cheap = cheap

local function limited(id)
    return jsonrpc.error_object(id, jsonrpc.LIMIT_EXCEEDED, "rate limit exceeded")
end
_M.limited = limited

-- deps: policy, limiter, pool (ethnode.upstream), metrics (ethnode.metrics), conf ({ max_batch, fail_open,
-- rate_limit_headers_always }), warn(...) for a dict failure, limit_headers(burst, remaining, reset) for the
-- RateLimit-* headers of an admitted call (called only with rate_limit_headers_always).
function _M.new(deps)
    local policy, limiter, pool, metrics, conf = deps.policy, deps.limiter, deps.pool, deps.metrics, deps.conf
    local warn, limit_headers = deps.warn, deps.limit_headers
    local self = {}

    local function reject(reason, n)
        metrics:add(reject_key(reason), n or 1)
    end
    self.reject = reject

    local function dict_failed(err)
        metrics:add(_M.DICT_ERRORS, 1)
        warn("ethnode: limiter dict error (", err, "), failing ", conf.fail_open and "open" or "closed")
    end

    -- Takes `weight` units from the caller's bucket. Returns true when the call may go on; else false and the
    -- headers a 429 carries.
    local function admit(who, rate, burst, weight, now)
        local allowed, remaining, reset, retry_after, err = limiter:take(who, rate, burst, weight, now)
        if err then dict_failed(err) end
        if not allowed then
            return false, {
                ["RateLimit-Limit"] = burst,
                ["RateLimit-Remaining"] = 0,
                ["RateLimit-Reset"] = reset,
                ["Retry-After"] = retry_after or reset,
            }
        end
        if conf.rate_limit_headers_always then limit_headers(burst, remaining, reset) end
        return true
    end

    -- Refused work still costs the caller `units` from its bucket, so a flood of junk, denied, oversized or
    -- unauthenticated calls reaches 429 like any other traffic. The units are taken up to the burst and never
    -- given back: a refusal bigger than the whole bucket empties it, and is answered as itself unless the bucket
    -- was empty already. nil when the caller could pay; else the 429 verdict (id null: a caller that knows the
    -- request's id puts it in).
    local function charge(who, rate, burst, units, now)
        local broke = units > burst and limiter:exhausted(who, rate, burst, now)
        local paid, reset, err = limiter:charge(who, rate, burst, units, now)
        if err then dict_failed(err) end
        if paid or (units > burst and not broke and not err) then return nil end
        reject("rate_limited")
        return answer(429, RATE_LIMITED, { ["RateLimit-Limit"] = burst, ["RateLimit-Remaining"] = 0, ["RateLimit-Reset"] = reset, ["Retry-After"] = reset })
    end
    self.charge = charge

    local function no_upstream(n)
        reject("no_upstream", n)
        return answer(503, NO_UPSTREAM)
    end
    self.no_upstream = no_upstream

    -- The decoded request, when only the scanner has seen it: error answers need its id, the policy its params.
    local function decoded(req, body)
        if req then return req end
        local d = jsonrpc.decode(body)
        return type(d) == "table" and d or {}
    end

    -- An error answer to one request, its id echoed byte for byte (as decoded when the scanner cannot read it).
    local function error_answer(req, body, code, message)
        local raw = scan.raw_id(body)
        if raw then return jsonrpc.encode_error_raw(raw, code, message) end
        return jsonrpc.encode_error(decoded(req, body).id, code, message)
    end

    -- Whether the policy refuses a call: counts the refusal and returns its JSON-RPC error code and message, or
    -- nil when the call may go on. Methods are counted by their rule's label (a bounded set).
    local function refused(rule, method, req, transport)
        if not rule.allowed then
            reject("method_denied")
            metrics:add(transport.calls("denied")(rule.label), 1)
            return jsonrpc.METHOD_NOT_FOUND, "method not allowed: " .. method
        end
        local bad = rule.checked and policy:check_params(req, pool:pool_head())
        if bad then
            reject("params")
            metrics:add(transport.calls("denied")(rule.label), 1)
            return jsonrpc.INVALID_PARAMS, bad
        end
        return nil
    end

    -- One request (the common case): straight-line code. `req` is nil when the scanner recognized the body; it
    -- is decoded only if an answer or a check needs more than the method.
    local function judge_single(method, has_id, req, body, who, rate, burst, now, transport)
        local rule = policy:rule(method)
        if rule.checked then req = decoded(req, body) end
        local code, message = refused(rule, method, req, transport)
        if code then
            local over = charge(who, rate, burst, 1, now)
            if over then
                over.body = error_answer(req, body, jsonrpc.LIMIT_EXCEEDED, "rate limit exceeded")
                return over
            end
            if not has_id then return answer(204, "") end
            return answer(200, error_answer(req, body, code, message))
        end
        local admitted, headers = admit(who, rate, burst, rule.weight, now)
        if not admitted then
            reject("rate_limited")
            metrics:add(transport.calls("rate_limited")(rule.label), 1)
            return answer(429, error_answer(req, body, jsonrpc.LIMIT_EXCEEDED, "rate limit exceeded"), headers)
        end
        if not pool:any_healthy() then
            local v = no_upstream(1)
            v.body = error_answer(req, body, jsonrpc.INTERNAL_ERROR, "no healthy upstream")
            return v
        end
        return { forward = true, label = rule.label, idempotent = rule.idempotent, fast = cheap(rule.idempotent, rule.weight, 1) }
    end

    -- A batch's answers, 204 when there are none; `text`: `out` holds each answer's bytes (jsonrpc.splice_raw),
    -- else decoded tables to encode (jsonrpc.splice).
    local function answers_body(status, out, text)
        if #out == 0 then return 204, "" end
        return status, text and "[" .. concat(out, ",") .. "]" or jsonrpc.encode(out)
    end

    -- The body's elements as their own bytes, when it splits into exactly the parsed items (else nil).
    local function raw_elements(body, items)
        local raw = scan.elements(body)
        if raw and #raw == #items then return raw end
        return nil
    end

    -- A batch answered here alone, with `status`: each answer around its element's own id bytes (`raw`, from
    -- raw_elements; as decoded when the body does not split).
    local function local_batch(status, items, answers, raw, headers)
        local out_status, out
        if raw then
            out_status, out = answers_body(status, jsonrpc.splice_raw(items, raw, answers, {}, scan.raw_id), true)
        else
            out_status, out = answers_body(status, jsonrpc.splice(items, answers, {}), false)
        end
        return answer(out_status, out, headers)
    end
    self.local_batch = local_batch

    -- The whole answer to a batch whose forwarded part (a partial verdict) the backend answered with `upstream`
    -- (its body: an array of answers, or empty for notifications only): status and body, nil when the backend's
    -- answer is not an array.
    local function finish(state, upstream)
        local items, raw, answers = state.items, state.raw, state.answers
        local upstream_raw = raw and (upstream == "" and {} or scan.elements(upstream))
        if upstream_raw then return answers_body(200, jsonrpc.splice_raw(items, raw, answers, upstream_raw, scan.raw_id), true) end
        local upstream_answers = upstream == "" and {} or jsonrpc.decode(upstream)
        if type(upstream_answers) ~= "table" then return nil end
        return answers_body(200, jsonrpc.splice(items, answers, upstream_answers), false)
    end
    self.finish = finish

    -- A batch: each element passes the policy on its own; refused ones are answered here, the rest forwarded
    -- (untouched when all pass) or, when some were refused, their own bytes as a smaller batch (partial).
    local function judge_batch(items, body, who, rate, burst, now, transport)
        local forward, answers, weight, idempotent, labels = {}, {}, 0, true, {}
        -- Every element counts against the limit: a forwarded one with its method's weight, a refused one 1.
        local refused_units = 0
        for i, item in ipairs(items) do
            local req = item.req
            if not req then
                reject("invalid")
                refused_units = refused_units + 1
                answers[i] = jsonrpc.error_object(item.id, item.code, item.err)
            else
                local rule = policy:rule(req.method)
                local code, message = refused(rule, req.method, req, transport)
                if code then
                    refused_units = refused_units + 1
                    if req.id ~= nil then answers[i] = jsonrpc.error_object(req.id, code, message) end
                else
                    forward[#forward + 1] = i
                    weight = weight + rule.weight
                    idempotent = idempotent and rule.idempotent
                    labels[#labels + 1] = rule.label
                end
            end
        end

        if #forward == 0 then
            local over = charge(who, rate, burst, refused_units, now)
            if over then
                -- Each request gets its 429 with its own id; notifications get nothing, as ever.
                local errs = {}
                for i, item in ipairs(items) do
                    if item.req == nil or item.req.id ~= nil then errs[i] = limited(item.req and item.req.id or item.id) end
                end
                return local_batch(over.status, items, errs, raw_elements(body, items), over.headers)
            end
            return local_batch(200, items, answers, raw_elements(body, items))
        end
        local admitted, headers = admit(who, rate, burst, weight + refused_units, now)
        if not admitted then
            reject("rate_limited", #forward)
            local errs = {}
            for k, i in ipairs(forward) do
                metrics:add(transport.calls("rate_limited")(labels[k]), 1)
                errs[i] = limited(items[i].req.id)
            end
            return local_batch(429, items, errs, raw_elements(body, items), headers)
        end
        if not pool:any_healthy() then
            -- Each request that would have gone gets its 503 error with its own id, beside the refusals.
            reject("no_upstream", #forward)
            for _, i in ipairs(forward) do
                local id = items[i].req.id
                if id ~= nil then answers[i] = jsonrpc.error_object(id, jsonrpc.INTERNAL_ERROR, "no healthy upstream") end
            end
            return local_batch(503, items, answers, raw_elements(body, items))
        end
        local verdict = { labels = labels, idempotent = idempotent, fast = cheap(idempotent, weight, #forward) }
        if #forward == #items then
            verdict.forward = true -- the original body goes upstream untouched (ids and numbers byte-exact)
            return verdict
        end
        -- The forwarded elements' own bytes go upstream, and the backend's answers come back as bytes; only a body
        -- the scanner cannot split is re-encoded (ids past 14 digits and empty arrays may then change).
        local raw = raw_elements(body, items)
        local sub_reqs, ids = {}, {}
        for _, i in ipairs(forward) do
            local req = items[i].req
            local encoded = raw and raw[i] or jsonrpc.encode_request(req)
            if encoded then
                sub_reqs[#sub_reqs + 1] = encoded
                if req.id ~= nil then ids[#ids + 1] = req.id end
            elseif req.id ~= nil then
                -- A number no JSON can carry (1e999 in its params): answered here, never dropped.
                answers[i] = jsonrpc.error_object(req.id, jsonrpc.PARSE_ERROR, "number out of range")
            end
        end
        verdict.items, verdict.raw, verdict.answers, verdict.ids = items, raw, answers, ids
        if #sub_reqs == 0 then return answer(finish(verdict, "")) end
        verdict.partial, verdict.body = true, "[" .. concat(sub_reqs, ",") .. "]"
        return verdict
    end

    -- A batch whose every element the scanner recognizes and the policy allows as it stands (the usual batch):
    -- its weight, labels and whether all are idempotent, without decoding it. nil when any element needs more
    -- (a refusal, a params check, anything the scanner leaves to the full parser): the full path then decides.
    local batch_methods = {}
    local function plain_batch(body, transport)
        local n = scan.batch(body, conf.max_batch, batch_methods, not transport.strict)
        if not n then return nil end
        local weight, idempotent, labels = 0, true, new_tab(n, 0)
        for i = 1, n do
            local rule = policy:rule(batch_methods[i])
            if not rule.allowed or rule.checked then return nil end
            weight = weight + rule.weight
            idempotent = idempotent and rule.idempotent
            labels[i] = rule.label
        end
        return weight, idempotent, labels
    end

    -- The verdict on one body from `who` (its bucket's rate and burst) by `transport` (_M.HTTP or _M.WS).
    function self.judge(body, who, rate, burst, now, transport)
        pool:refresh(now)
        -- The common request is recognized without building it; anything else is parsed in full.
        local method, has_id = scan.request(body, not transport.strict)
        if method then return judge_single(method, has_id, nil, body, who, rate, burst, now, transport) end
        local weight, idempotent, labels = plain_batch(body, transport)
        -- Anything else (over the limit, no healthy backend) the full path answers, element by element; a refused
        -- take costs nothing, so the caller is not charged twice.
        if weight and pool:any_healthy() and admit(who, rate, burst, weight, now) then
            return { forward = true, labels = labels, idempotent = idempotent, fast = cheap(idempotent, weight, #labels) }
        end
        local parsed, batch_or_code, message, id = jsonrpc.parse(body, conf.max_batch)
        if parsed and transport.strict and not scan.json(body) then
            parsed, batch_or_code, message, id = nil, jsonrpc.PARSE_ERROR, "parse error", nil
        end
        if not parsed then
            local over = charge(who, rate, burst, _M.body_units(#body), now)
            if over then return over end
            reject(batch_or_code == jsonrpc.PARSE_ERROR and "parse_error" or "invalid")
            if id == nil or id == jsonrpc.null then return answer(400, jsonrpc.encode_error(id, batch_or_code, message)) end
            return answer(400, error_answer(nil, body, batch_or_code, message))
        end
        if batch_or_code then return judge_batch(parsed, body, who, rate, burst, now, transport) end
        -- A notification has no id member at all (an explicit null id is a request).
        return judge_single(parsed.method, parsed.id ~= nil, parsed, body, who, rate, burst, now, transport)
    end

    return self
end

return _M
