-- Sliding-window rate limiter on a shared dict: the previous window's count decays linearly while the
-- current window counts by one atomic incr, so workers never race (no get-then-set). A burst of `burst`
-- units is allowed, refilling at `rate` units per second. Pure: the dict and the clock are passed in.
local floor, ceil, max = math.floor, math.ceil, math.max

local _M = { _VERSION = "0.1.0" }

-- opts.fail_open: what to do when the dict fails (full, or an error): serve (true) or reject (false).
function _M.new(dict, opts)
    return setmetatable({ dict = dict, fail_open = opts and opts.fail_open ~= false }, { __index = _M })
end

local function retry_after(prev, cur, burst, weight, window, elapsed)
    if cur + weight > burst then
        -- Only the next window helps: wait for it, then for the carried-over count to decay enough.
        local decay = cur > 0 and window * (1 - (burst - weight) / cur) or 0
        return (window - elapsed) + max(decay, 0)
    end
    return window * (1 - (burst - cur - weight) / prev) - elapsed
end

-- Takes `weight` units from `key`'s bucket. Returns allowed (bool) and a state table:
-- { limit, remaining, reset, retry_after, err }.
function _M.take(self, key, rate, burst, weight, now)
    local window = burst / rate
    local idx = floor(now / window)
    local elapsed = now - idx * window
    local cur_key = key .. ":" .. idx
    local prev = self.dict:get(key .. ":" .. (idx - 1)) or 0
    local carried = prev * (1 - elapsed / window)
    local reset = ceil(window - elapsed)

    local cur, err = self.dict:incr(cur_key, weight, 0, ceil(window * 2) + 1)
    if not cur then
        return self.fail_open, { limit = burst, remaining = 0, reset = reset, err = err or "incr failed" }
    end
    if carried + cur > burst then
        -- Give the units back: a rejected request must not eat into the next one's budget.
        self.dict:incr(cur_key, -weight)
        local wait = retry_after(prev, cur - weight, burst, weight, window, elapsed)
        return false, { limit = burst, remaining = 0, reset = reset, retry_after = max(1, ceil(wait)) }
    end
    return true, { limit = burst, remaining = max(0, floor(burst - carried - cur)), reset = reset }
end

return _M
