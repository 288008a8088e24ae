local T = ...
local limiter = require("ethnode.limiter")

T.test("allows exactly the burst, then rejects with Retry-After", function()
    local l = limiter.new(T.dict(), {})
    local allowed = 0
    for _ = 1, 15 do
        if l:take("ip:a", 5, 10, 1, 100.0) then allowed = allowed + 1 end
    end
    T.eq(allowed, 10)
    local ok, st = l:take("ip:a", 5, 10, 1, 100.0)
    T.eq(ok, false)
    T.eq(st.remaining, 0)
    T.truthy(st.retry_after >= 1, "retry_after")
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

T.test("keys are independent", function()
    local l = limiter.new(T.dict(), {})
    for _ = 1, 10 do l:take("a", 5, 10, 1, 0) end
    T.eq((l:take("b", 5, 10, 1, 0)), true)
end)

T.test("fails open or closed on dict errors, as configured", function()
    local broken = { get = function() return nil end, incr = function() return nil, "no memory" end }
    local open = limiter.new(broken, { fail_open = true })
    local closed = limiter.new(broken, { fail_open = false })
    local ok, st = open:take("x", 1, 1, 1, 0)
    T.eq(ok, true)
    T.eq(st.err, "no memory")
    T.eq((closed:take("x", 1, 1, 1, 0)), false)
end)
