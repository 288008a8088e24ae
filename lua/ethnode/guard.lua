-- Every phase handler of the gateway runs guarded: an error in our own Lua becomes the gateway's answer (a
-- JSON-RPC 500 where one can still be sent) and one line of its own on stderr — the journal, which central logs
-- ship and alert on (GatewayLuaError). nginx's own line for such an error would carry the request (an API key
-- in the path, a client's Host and Referer): nginx writes only crit and above there, and this line carries
-- nothing a client sent. At most one line a second per worker, with a count of those held back.
local pcall, tostring = pcall, tostring
local format, gsub, sub = string.format, string.gsub, string.sub

local _M = { _VERSION = "0.1.0" }

-- What every line starts with: the log rule anchors on it.
_M.PREFIX = "ethnode-gateway: lua error in "

local MAX_TEXT = 400

-- The error's text on one line, printable ASCII only, bounded.
local function one_line(err)
    local text = gsub(tostring(err), "[^\32-\126]", "?")
    return sub(text, 1, MAX_TEXT)
end

-- Builds a reporter writing through `write` on `clock`'s seconds (both handed in: tested without nginx).
function _M.reporter(write, clock)
    local last, held = -1, 0
    return function(phase, err)
        local now = clock()
        if now - last < 1 then
            held = held + 1
            return false
        end
        local more = held > 0 and format(" (%d more in the last %ds)", held, last < 0 and 0 or now - last) or ""
        last, held = now, 0
        write(format("%s%s: %s%s\n", _M.PREFIX, phase, one_line(err), more))
        return true
    end
end

local report = _M.reporter(function(line) io.stderr:write(line) end, function() return ngx.now() end)

-- `fn` (one argument, results unused: nginx reads none from a phase handler) guarded for `phase`; `on_error`
-- (optional) answers when it failed. No varargs: this wraps every request's handlers, and a vararg call keeps
-- LuaJIT from compiling the path it sits on.
function _M.wrap(phase, fn, on_error)
    return function(arg)
        local ok, err = pcall(fn, arg)
        if ok then return end
        report(phase, err)
        if on_error then return on_error() end
    end
end

-- For a timer or anything else run outside a request: `fn(arg)`, guarded.
function _M.run(phase, fn, arg)
    local ok, err = pcall(fn, arg)
    if not ok then report(phase, err) end
end

-- The answer to a request our Lua failed on: 500 with a JSON-RPC body while nothing was sent yet.
function _M.internal_error()
    if ngx.headers_sent then return ngx.exit(ngx.ERROR) end
    ngx.status = 500
    ngx.header["Content-Type"] = "application/json"
    ngx.print('{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}')
    return ngx.exit(500)
end

return _M
