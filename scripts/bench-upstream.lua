-- The benchmark's upstream (content_by_lua_file in its own nginx): a static JSON-RPC node that answers every
-- call of a single request or a batch with its own id, and WebSocket messages the same way, so every proxy in
-- the comparison (ours and plain nginx) meets an upstream that behaves like a node at no cost.
local cjson = require("cjson.safe")
local wsframe = require("ethnode.wsframe")

local RESULTS = {
    eth_syncing = false,
    eth_blockNumber = "0x10",
    eth_chainId = "0x539",
    net_version = "1337",
    eth_getBlockByNumber = {
        number = "0x10", hash = "0x" .. string.rep("ab", 32), parentHash = "0x" .. string.rep("cd", 32),
        timestamp = "0x65000000", transactions = {},
    },
}

local function answer(req)
    if type(req) ~= "table" then return { jsonrpc = "2.0", id = cjson.null, error = { code = -32600, message = "invalid" } } end
    local result = RESULTS[req.method]
    if result == nil then result = "0x0" end
    return { jsonrpc = "2.0", id = req.id, result = result }
end

local function respond(body)
    local decoded = cjson.decode(body or "")
    if type(decoded) == "table" and decoded[1] ~= nil then
        local out = {}
        for i, req in ipairs(decoded) do out[i] = answer(req) end
        return cjson.encode(out)
    end
    return cjson.encode(answer(decoded))
end

local function websocket()
    local sock = require("ethnode.websocket").accept(ngx.var.http_sec_websocket_key)
    while sock do
        local f, err = wsframe.read(sock, 16 * 1024 * 1024, 3600000, 60, ngx.now, 10000)
        if not f then
            if err ~= "timeout" then return end
        elseif f.opcode == wsframe.CLOSE then
            sock:send(wsframe.frame(wsframe.CLOSE, f.payload))
            return
        elseif f.opcode == wsframe.TEXT or f.opcode == wsframe.BINARY then
            sock:send(wsframe.frame(wsframe.TEXT, respond(f.payload)))
        end
    end
end

if ngx.var.http_upgrade then return websocket() end
ngx.req.read_body()
ngx.header["Content-Type"] = "application/json"
ngx.print(respond(ngx.req.get_body_data()))
