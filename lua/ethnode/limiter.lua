-- Sliding-window rate limiter on a shared dict: the previous window's count decays linearly while the
-- current window counts by one atomic incr, so workers never race (no get-then-set). A burst of `burst`
-- units is allowed, refilling at `rate` units per second. Pure: the dict and the clock are passed in.
local floor, ceil, max = math.floor, math.ceil, math.max

local bounded = require("ethnode.bounded")

local _M = { _VERSION = "0.1.0" }

-- Per key, the worker remembers its current window: the dict key to count in and the previous window's total.
-- That total is final once the window has begun (every increment lands in the window of its worker's clock,
-- and the clocks agree to a millisecond), so it is read from the dict once per key and window instead of on
-- every request. Keys come from clients: past this many, the memory starts over.
local WINDOW_CACHE_SIZE = 10000

-- opts.fail_open: what to do when the dict fails (full, or an error): serve (true) or reject (false).
function _M.new(dict, opts)
    return setmetatable({
        dict = dict, fail_open = opts and opts.fail_open ~= false, windows = bounded.new(WINDOW_CACHE_SIZE),
    }, { __index = _M })
end

local function window_state(self, key, idx)
    local w = self.windows:get(key)
    if w and w.idx == idx then return w.cur_key, w.prev end
    local cur_key = key .. ":" .. idx
    local prev = self.dict:get(key .. ":" .. (idx - 1)) or 0
    if w then
        w.idx, w.cur_key, w.prev = idx, cur_key, prev
    else
        self.windows:put(key, { idx = idx, cur_key = cur_key, prev = prev })
    end
    return cur_key, prev
end

local function retry_after(prev, cur, burst, weight, window, elapsed)
    if cur + weight > burst then
        -- Only the next window helps: wait for it, then for the carried-over count to decay enough.
        local decay = cur > 0 and window * (1 - (burst - weight) / cur) or 0
        return (window - elapsed) + max(decay, 0)
    end
    return window * (1 - (burst - cur - weight) / prev) - elapsed
end

-- Whether `key`'s bucket cannot pay a single unit right now (nothing is taken): lets the caller refuse work
-- before doing it, such as reading a large body from a client that is over its limit anyway.
function _M.exhausted(self, key, rate, burst, now)
    local window = burst / rate
    local idx = floor(now / window)
    local cur_key, prev = window_state(self, key, idx)
    local carried = prev * (1 - (now - idx * window) / window)
    return carried + (self.dict:get(cur_key) or 0) + 1 > burst
end

-- Adds `weight` to `key`'s current window. Returns the window's count after it (nil on a dict failure), what
-- the previous window still carries, the seconds until this window resets, the dict's error, and what a
-- rejection needs to give units back and say when to retry. Plain values, no table: this runs on every request.
local function add(self, key, rate, burst, weight, now)
    local window = burst / rate
    local idx = floor(now / window)
    local elapsed = now - idx * window
    local cur_key, prev = window_state(self, key, idx)
    local cur, err = self.dict:incr(cur_key, weight, 0, ceil(window * 2) + 1)
    return cur, prev * (1 - elapsed / window), ceil(window - elapsed), err, cur_key, prev, window, elapsed
end

-- Takes `weight` units from `key`'s bucket. Returns allowed (bool), remaining units, seconds until the window
-- resets, and when rejected the seconds to wait; a dict failure comes back as a fifth value (the first is
-- then the configured fail-open/closed answer).
function _M.take(self, key, rate, burst, weight, now)
    local cur, carried, reset, err, cur_key, prev, window, elapsed = add(self, key, rate, burst, weight, now)
    if not cur then
        return self.fail_open, 0, reset, nil, err or "incr failed"
    end
    if carried + cur > burst then
        -- Give the units back: a rejected request must not eat into the next one's budget.
        self.dict:incr(cur_key, -weight)
        local wait = retry_after(prev, cur - weight, burst, weight, window, elapsed)
        return false, 0, reset, max(1, ceil(wait))
    end
    return true, max(0, floor(burst - carried - cur)), reset
end

-- Charges `weight` units of refused work (junk, an oversized body, a bad key) to `key`'s bucket. Unlike take,
-- nothing is given back: what the bucket cannot hold is capped at the burst, so a refusal bigger than the
-- whole bucket still empties it. Returns whether the bucket could pay in full and the seconds until the window
-- resets; a dict failure comes back as a third value (the first is then the configured fail-open/closed answer).
function _M.charge(self, key, rate, burst, weight, now)
    local cur, carried, reset, err, cur_key = add(self, key, rate, burst, weight, now)
    if not cur then return self.fail_open, reset, err or "incr failed" end
    local over = carried + cur - burst
    if over <= 0 then return true, reset end
    -- Keep the bucket exactly empty: the part beyond the burst would only push the caller's next window.
    local back = floor(over < weight and over or weight)
    if back > 0 then self.dict:incr(cur_key, -back) end
    return false, reset
end

return _M
