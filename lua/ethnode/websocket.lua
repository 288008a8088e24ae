-- A WebSocket session through the gateway: the client's handshake, the backend's, and two pumps. Every message
-- from the client is handed to a judge (the same policy as an HTTP body) before anything reaches the backend;
-- what the backend sends (answers, subscription notifications) streams back frame by frame, except the answer
-- to a batch the judge forwarded only in part, which is spliced with the judge's own answers first.
local wsframe = require("ethnode.wsframe")
local jsonrpc = require("ethnode.jsonrpc")
local semaphore = require("ngx.semaphore")

local ngx = ngx
local ipairs, type, remove = ipairs, type, table.remove
local concat, lower, find, byte = table.concat, string.lower, string.find, string.byte

local _M = { _VERSION = "0.1.0" }

local GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
local TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = wsframe.TEXT, wsframe.BINARY, wsframe.CLOSE, wsframe.PING,
    wsframe.PONG, wsframe.CONTINUATION

-- A backend's frames and messages may be as large as Geth's own read limit.
local UPSTREAM_MAX = 32 * 1024 * 1024
-- Batches forwarded in part whose answers are still awaited, per connection; past it a batch that needs a
-- splice is refused (the backend may answer messages in any order, so each waits by its ids).
_M.MAX_PENDING = 16

local function has_token(value, token)
    if type(value) == "table" then value = concat(value, ",") end
    if type(value) ~= "string" then return false end
    for t in value:gmatch("[^,%s]+") do
        if lower(t) == token then return true end
    end
    return false
end

-- The client's handshake: its Sec-WebSocket-Key, or nil, an HTTP status and why.
function _M.client_key()
    if ngx.req.get_method() ~= "GET" then return nil, 405, "a WebSocket handshake is a GET" end
    if ngx.req.http_version() ~= 1.1 then return nil, 400, "a WebSocket handshake needs HTTP/1.1" end
    local h = ngx.req.get_headers(32)
    if not has_token(h.upgrade, "websocket") or not has_token(h.connection, "upgrade") then
        return nil, 426, "WebSocket upgrade required"
    end
    if h["sec-websocket-version"] ~= "13" then return nil, 426, "WebSocket version 13 required" end
    local key = h["sec-websocket-key"]
    if type(key) ~= "string" or #(ngx.decode_base64(key) or "") ~= 16 then
        return nil, 400, "bad Sec-WebSocket-Key"
    end
    return key
end

local function accept_for(key)
    return ngx.encode_base64(ngx.sha1_bin(key .. GUID))
end

-- Opens the backend's WebSocket. Returns the socket, or nil and why.
function _M.connect(host, port, origin, timeout_ms)
    local sock = ngx.socket.tcp()
    sock:settimeouts(timeout_ms, timeout_ms, timeout_ms)
    local ok, err = sock:connect(host, port)
    if not ok then return nil, "connect: " .. tostring(err) end
    local nonce = ngx.encode_base64(wsframe.random_bytes(16))
    ok, err = sock:send(concat({
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        "Sec-WebSocket-Key: ", nonce, "\r\nSec-WebSocket-Version: 13\r\n",
        -- The backend applies its own origin check (Geth's --ws.origins) to the client's origin.
        origin and ("Origin: " .. origin .. "\r\n") or "",
        "\r\n",
    }))
    if not ok then sock:close() return nil, "send: " .. tostring(err) end
    local status_line
    status_line, err = sock:receive("*l")
    if not status_line then sock:close() return nil, "handshake: " .. tostring(err) end
    local accept
    for _ = 1, 64 do
        local line
        line, err = sock:receive("*l")
        if not line then sock:close() return nil, "handshake: " .. tostring(err) end
        if line == "" then break end
        local name, value = line:match("^([^:]+):%s*(.-)%s*$")
        if name and lower(name) == "sec-websocket-accept" then accept = value end
    end
    if not find(status_line, "^HTTP/1%.1 101") then
        sock:close()
        return nil, "backend refused the upgrade: " .. status_line, tonumber(status_line:match("^HTTP/%d%.%d (%d%d%d)"))
    end
    if accept ~= accept_for(nonce) then sock:close() return nil, "backend's Sec-WebSocket-Accept is wrong" end
    return sock
end

-- Answers the client's handshake (after the backend's succeeded) and takes over its connection.
function _M.accept(key)
    ngx.status = 101
    ngx.header["Upgrade"] = "websocket"
    ngx.header["Sec-WebSocket-Accept"] = accept_for(key)
    ngx.header["Content-Type"] = nil
    local ok, err = ngx.send_headers()
    if not ok then return nil, err end
    ok, err = ngx.flush(true)
    if not ok then return nil, err end
    return ngx.req.socket(true)
end

-- Whether a message is a JSON array (the only kind that may answer a batch).
local function is_array(payload)
    for i = 1, #payload do
        local c = byte(payload, i)
        if c == 91 then return true end
        if c ~= 32 and c ~= 9 and c ~= 10 and c ~= 13 then return false end
    end
    return false
end

-- The waiting batch whose forwarded calls `message` answers (the same ids in the same order), taken out of
-- `pending`; nil when none matches.
local function answered_batch(pending, message)
    local answers = jsonrpc.decode(message)
    if type(answers) ~= "table" then return nil end
    for k, p in ipairs(pending) do
        local ids = p.ids
        if #ids == #answers then
            local same = true
            for i, a in ipairs(answers) do
                if type(a) ~= "table" or a.id ~= ids[i] then
                    same = false
                    break
                end
            end
            if same then return remove(pending, k) end
        end
    end
    return nil
end

-- A subscription notification from the backend (what a client's subscriptions cost after the eth_subscribe
-- call itself): Geth writes the method first.
local function is_notification(payload)
    local at = find(payload, '"eth_subscription"', 1, true)
    return at ~= nil and at < 64
end

-- A session's own budget for what it receives without asking (subscription notifications) and for its pings:
-- `rate` per second up to `burst`, in the worker's memory (a session lives in one worker).
local function session_budget(rate, burst, now)
    local tokens, last = burst, now()
    return function(n)
        local t = now()
        tokens = tokens + (t - last) * rate
        if tokens > burst then tokens = burst end
        last = t
        if tokens < n then return false end
        tokens = tokens - n
        return true
    end
end

-- Runs the session until either side closes or fails. `opts`: max_message (bytes), frame_sec (how long one
-- frame may take to arrive), message_sec (how long all the frames of one message may take), idle_sec (no
-- message either way), send_ms, notify_rate and notify_burst (the session's budget for notifications and
-- pings), and `buffer`, which holds the bytes of unfinished messages to account (reserve(n): false when the
-- worker's or the address's share is spent; release(n)). `on_message(payload)` returns the answer to send
-- back (nil or "" for none), what to forward (true: the message as it came), and for a part of a batch
-- { ids, finish(upstream_message) -> the whole answer }. `on_close(reason)` is told how it ended.
function _M.run(client, upstream, opts, on_message, on_close)
    local now = ngx.now
    local send_ms = opts.send_ms
    local idle_ms = opts.idle_sec * 1000
    local budget = session_budget(opts.notify_rate, opts.notify_burst, now)
    local buffer = opts.buffer
    -- Either pump may write to either socket (answers, pongs, closes): one writer at a time per socket.
    local client_lock, upstream_lock = semaphore.new(1), semaphore.new(1)
    local last_message = now()
    local pending = {}
    local closing = false

    local function locked_send(sock, lock, data)
        local ok, err = lock:wait(send_ms / 1000)
        if not ok then return nil, err end
        ok, err = sock:send(data)
        lock:post(1)
        return ok, err
    end
    local function to_client(data) return locked_send(client, client_lock, data) end
    local function to_upstream(data) return locked_send(upstream, upstream_lock, data) end
    local function mask_key() return wsframe.random_bytes(4) end

    local reason
    local function finish(why, code, text)
        if closing then return end
        closing, reason = true, why
        if code then
            to_client(wsframe.frame(CLOSE, wsframe.close_payload(code, text)))
            to_upstream(wsframe.masked_frame(CLOSE, wsframe.close_payload(code == wsframe.UPSTREAM_GONE and wsframe.GOING_AWAY or code, text), mask_key()))
        end
    end

    -- One message from the client, judged. False when a socket failed (the session is then finishing).
    local function handle(opcode, payload, raw)
        last_message = now()
        local answer, forward, part
        if wsframe.valid_utf8(payload) then
            answer, forward, part = on_message(payload)
        elseif opcode == TEXT then
            finish("bad_utf8", wsframe.BAD_DATA, "text must be UTF-8")
            return false
        else
            -- JSON between systems is UTF-8: a binary message that is not cannot be JSON-RPC.
            answer = opts.not_utf8
        end
        if part and #pending >= _M.MAX_PENDING then
            answer, forward, part = part.refuse(), nil, nil
        end
        -- An answer of our own goes back as the kind of message that asked (binary for binary: an id echoed
        -- byte for byte need not be UTF-8).
        if answer and answer ~= "" and not to_client(wsframe.frame(opcode, answer)) then
            finish("client_gone")
            return false
        end
        local ok = true
        if forward == true then
            -- The client's own frame is a valid client frame for the backend: masked, whole, unchanged.
            ok = to_upstream(raw or wsframe.masked_frame(opcode, payload, mask_key()))
        elseif forward then
            if #part.ids > 0 then pending[#pending + 1] = part end
            ok = to_upstream(wsframe.masked_frame(TEXT, forward, mask_key()))
        end
        if not ok then finish("upstream_gone", wsframe.UPSTREAM_GONE, "backend gone") end
        return ok
    end

    -- The bytes of the client's unfinished message, held against the worker's and the address's share.
    local held = 0
    local function hold(n)
        if not buffer.reserve(n) then return false end
        held = held + n
        return true
    end
    local function let_go()
        if held > 0 then buffer.release(held) end
        held = 0
    end

    local function client_pump()
        local parts, size, first_opcode, started
        while not closing do
            -- Waits at most until the session has been idle for idle_sec (a second at least), or, inside a
            -- fragmented message, until that message's deadline.
            local wait_ms = math.max(1000, (opts.idle_sec - (now() - last_message)) * 1000)
            if parts then wait_ms = math.max(0, (started + opts.message_sec - now()) * 1000) end
            local f, err = wsframe.read(client, opts.max_message, wait_ms, opts.frame_sec, now, send_ms)
            if f and parts and now() - started > opts.message_sec then
                return finish("slow_message", wsframe.POLICY, "message timeout")
            end
            if not f then
                if err == "timeout" and parts then
                    return finish("slow_message", wsframe.POLICY, "message timeout")
                elseif err == "timeout" then
                    if now() - last_message >= opts.idle_sec then return finish("idle", wsframe.GOING_AWAY, "idle timeout") end
                elseif err == "too big" then
                    return finish("too_big", wsframe.TOO_BIG, "message too big")
                elseif err == "protocol" then
                    return finish("protocol", wsframe.PROTOCOL_ERROR, "protocol error")
                elseif err == "cut" or err == "timeout" then
                    return finish("slow_frame", wsframe.POLICY, "frame timeout")
                else
                    return finish("client_gone", wsframe.GOING_AWAY, "client gone")
                end
            else
                local op = f.opcode
                if not f.masked then return finish("protocol", wsframe.PROTOCOL_ERROR, "client frames must be masked") end
                if op == PING then
                    -- A pong costs what a notification does: pings are no way around the budget.
                    if not budget(1) then return finish("over_budget", wsframe.POLICY, "ping rate exceeded") end
                    to_client(wsframe.frame(PONG, f.payload))
                elseif op == CLOSE then
                    if not wsframe.valid_close(f.payload) then
                        return finish("protocol", wsframe.PROTOCOL_ERROR, "invalid close frame")
                    end
                    -- Echo the client's close, tell the backend, done.
                    to_client(wsframe.frame(CLOSE, f.payload))
                    to_upstream(wsframe.masked_frame(CLOSE, f.payload, mask_key()))
                    closing, reason = true, "client_closed"
                    return
                elseif op == CONTINUATION then
                    if not parts then return finish("protocol", wsframe.PROTOCOL_ERROR, "continuation without a message") end
                    size = size + #f.payload
                    if size > opts.max_message then return finish("too_big", wsframe.TOO_BIG, "message too big") end
                    if not hold(#f.payload) then return finish("buffers_full", wsframe.TRY_AGAIN, "server busy") end
                    parts[#parts + 1] = f.payload
                    if f.fin then
                        local message = concat(parts)
                        parts = nil
                        let_go()
                        if not handle(first_opcode, message, nil) then return end
                    end
                elseif op == TEXT or op == BINARY then
                    if parts then return finish("protocol", wsframe.PROTOCOL_ERROR, "new message inside a fragmented one") end
                    if f.fin then
                        if not handle(op, f.payload, f.raw) then return end
                    else
                        if not hold(#f.payload) then return finish("buffers_full", wsframe.TRY_AGAIN, "server busy") end
                        parts, size, first_opcode, started = { f.payload }, #f.payload, op, now()
                    end
                end
            end
        end
    end

    local function upstream_pump()
        local parts, size
        while not closing do
            -- The backend is never idle-timed here: the client's pump decides when the session is idle.
            local f, err = wsframe.read(upstream, UPSTREAM_MAX, idle_ms, opts.upstream_frame_sec or 60, now, send_ms)
            if not f then
                if err ~= "timeout" then return finish("upstream_gone", wsframe.UPSTREAM_GONE, "backend gone") end
            else
                local op = f.opcode
                if op == PING then
                    to_upstream(wsframe.masked_frame(PONG, f.payload, mask_key()))
                elseif op == CLOSE then
                    to_client(wsframe.frame(CLOSE, f.payload))
                    closing, reason = true, "upstream_closed"
                    return
                elseif op ~= PONG then
                    last_message = now()
                    -- A message that may answer a batch forwarded in part is read whole and spliced; anything else
                    -- streams on frame by frame.
                    if parts or (#pending > 0 and op == TEXT and is_array(f.payload)) then
                        parts = parts or {}
                        size = (size or 0) + #f.payload
                        if size > UPSTREAM_MAX then return finish("too_big", wsframe.TOO_BIG, "answer too big") end
                        parts[#parts + 1] = f.payload
                        if f.fin then
                            local message = concat(parts)
                            parts, size = nil, nil
                            local p = answered_batch(pending, message)
                            local ok = to_client(wsframe.frame(TEXT, p and p.finish(message) or message))
                            if not ok then return finish("client_gone") end
                        end
                    else
                        if is_notification(f.payload) and not budget(1) then
                            return finish("over_budget", wsframe.POLICY, "subscription notifications over budget")
                        end
                        local ok = to_client(f.raw)
                        if not ok then return finish("client_gone") end
                    end
                end
            end
        end
    end

    -- Whichever pump ends first ends the session; the other may be waiting on its socket and is stopped.
    local threads = { ngx.thread.spawn(client_pump), ngx.thread.spawn(upstream_pump) }
    ngx.thread.wait(threads[1], threads[2])
    closing = true
    for _, t in ipairs(threads) do ngx.thread.kill(t) end
    upstream:close()
    let_go()
    on_close(reason or "closed")
end

return _M
