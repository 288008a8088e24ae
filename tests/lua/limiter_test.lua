local T = ...
local limiter = require("ethnode.limiter")

T.test("allows exactly the burst, then rejects with Retry-After", function()
    local l = limiter.new(T.dict(), {})
    local allowed = 0
    for _ = 1, 15 do
        if l:take("ip:a", 5, 10, 1, 100.0) then allowed = allowed + 1 end
    end
    T.eq(allowed, 10)
    local ok, remaining, reset, retry_after = l:take("ip:a", 5, 10, 1, 100.0)
    T.eq(ok, false)
    T.eq(remaining, 0)
    T.truthy(reset >= 1, "reset")
    T.truthy(retry_after >= 1, "retry_after")
end)

T.test("weights count against the bucket, and a rejected call costs nothing", function()
    local l = limiter.new(T.dict(), {})
    T.eq((l:take("k", 5, 10, 8, 0)), true)
    T.eq((l:take("k", 5, 10, 5, 0)), false)
    T.eq((l:take("k", 5, 10, 2, 0)), true)
end)

T.test("refills over time (the previous window decays)", function()
    local l = limiter.new(T.dict(), {})
    for _ = 1, 10 do l:take("r", 5, 10, 1, 0) end -- window is 2 s
    T.eq((l:take("r", 5, 10, 1, 1.9)), false)
    T.eq((l:take("r", 5, 10, 1, 3.0)), true) -- half of the previous window has decayed
end)

T.test("reports what is left of the burst", function()
    local l = limiter.new(T.dict(), {})
    local ok, remaining, _, retry_after = l:take("m", 5, 10, 3, 0)
    T.eq(ok, true)
    T.eq(remaining, 7)
    T.eq(retry_after, nil)
end)

T.test("keys are independent", function()
    local l = limiter.new(T.dict(), {})
    for _ = 1, 10 do l:take("a", 5, 10, 1, 0) end
    T.eq((l:take("b", 5, 10, 1, 0)), true)
end)

T.test("fails open or closed on dict errors, as configured", function()
    local broken = { get = function() return nil end, incr = function() return nil, "no memory" end }
    local open = limiter.new(broken, { fail_open = true })
    local closed = limiter.new(broken, { fail_open = false })
    local ok, _, _, _, err = open:take("x", 1, 1, 1, 0)
    T.eq(ok, true)
    T.eq(err, "no memory")
    T.eq((closed:take("x", 1, 1, 1, 0)), false)
end)

T.test("reads the previous window once per window, and still shares the count across workers", function()
    local d = T.dict()
    local gets = 0
    local counting = setmetatable({ get = function(_, k) gets = gets + 1 return d:get(k) end }, { __index = d })
    local a = limiter.new(counting, {})
    local b = limiter.new(counting, {}) -- a second worker on the same dict
    for _ = 1, 5 do a:take("w", 5, 10, 1, 0) end
    for _ = 1, 5 do b:take("w", 5, 10, 1, 0.5) end
    T.eq(gets, 2)
    T.eq((a:take("w", 5, 10, 1, 1.0)), false) -- the other worker's units count
    for _ = 1, 3 do a:take("w", 5, 10, 1, 2.5) end -- next window: one more read
    T.eq(gets, 3)
end)

T.test("forgets windows past its size, staying correct", function()
    local l = limiter.new(T.dict(), {})
    for i = 1, 10050 do l:take("k" .. i, 5, 10, 1, 0) end
    T.truthy(l.windows.count <= 10000, "bounded")
    for _ = 1, 9 do l:take("k1", 5, 10, 1, 0) end
    T.eq((l:take("k1", 5, 10, 1, 0)), false)
end)

T.test("exhausted: says whether a bucket can pay one unit, and takes nothing", function()
    local l = limiter.new(T.dict())
    T.eq(l:exhausted("a", 1, 3, 100), false)
    for _ = 1, 3 do T.eq((l:take("a", 1, 3, 1, 100)), true) end
    T.eq(l:exhausted("a", 1, 3, 100), true)
    T.eq(l:exhausted("a", 1, 3, 100), true)
    T.eq(l:exhausted("b", 1, 3, 100), false)
    -- A window and a half later the carried count has decayed enough for one unit again.
    T.eq(l:exhausted("a", 1, 3, 104.5), false)
end)

T.test("charge: refused work is taken up to the burst and never given back", function()
    local l = limiter.new(T.dict(), {})
    -- Within the bucket: paid in full, and it counts against what follows.
    T.eq((l:charge("c", 5, 10, 4, 0)), true)
    T.eq((l:take("c", 5, 10, 7, 0)), false)
    T.eq((l:take("c", 5, 10, 6, 0)), true)
    -- A refusal bigger than the whole bucket empties it (not free, as a rejected take would be).
    local big = limiter.new(T.dict(), {})
    T.eq((big:charge("b", 5, 10, 640, 0)), false)
    T.eq((big:take("b", 5, 10, 1, 0)), false)
    T.eq(big:exhausted("b", 5, 10, 0), true)
    -- Capped at the burst: the next window starts from a full bucket's decay, not from 640.
    T.eq((big:take("b", 5, 10, 1, 2.5)), true)
    -- An empty bucket charged again stays empty and says so.
    local empty = limiter.new(T.dict(), {})
    T.eq((empty:charge("e", 5, 10, 10, 0)), true)
    T.eq((empty:charge("e", 5, 10, 1, 0)), false)
    T.eq((empty:take("e", 5, 10, 1, 0)), false)
end)

T.test("charge: a dict failure answers as configured", function()
    local broken = { incr = function() return nil, "no memory" end, get = function() return nil end }
    T.eq(limiter.new(broken, { fail_open = true }):charge("x", 5, 10, 1, 0), true)
    local closed = limiter.new(broken, { fail_open = false })
    local ok, reset, err = closed:charge("x", 5, 10, 1, 0)
    T.eq(ok, false)
    T.eq(reset, 2)
    T.eq(err, "no memory")
end)
