-- Reading from a socket against a deadline. A socket's own read timeout restarts with every byte that arrives;
-- a deadline does not, so a peer that trickles its bytes one at a time is cut off all the same. Pure but for
-- the socket and the clock handed in.
local ceil = math.ceil

local _M = { _VERSION = "0.1.0" }

-- At most `max` bytes from `sock`, as soon as any arrive, if that is before `deadline` (seconds on `now()`'s
-- clock); nil and "timeout" once it has passed, or the socket's error. `send_ms` keeps the socket's send
-- timeout as it is (nil for a socket that is only read from).
function _M.receive(sock, max, deadline, now, send_ms)
    local left = deadline - now()
    if left <= 0 then return nil, "timeout" end
    local ms = ceil(left * 1000)
    if send_ms then sock:settimeouts(send_ms, send_ms, ms) else sock:settimeout(ms) end
    return sock:receiveany(max)
end

return _M
