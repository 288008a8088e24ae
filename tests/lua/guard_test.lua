local T = ...
local guard = require("ethnode.guard")

T.test("an error is one line of our own, printable, bounded, starting with the prefix the log rule reads", function()
    local lines, t = {}, 100
    local report = guard.reporter(function(l) lines[#lines + 1] = l end, function() return t end)
    T.eq(report("access", "gateway.lua:12: attempt to index a nil value\nsecond line \27[31m"), true)
    T.eq(lines[1], "ethnode-gateway: lua error in access: gateway.lua:12: attempt to index a nil value?second line ?[31m\n")
    T.truthy(lines[1]:find(guard.PREFIX, 1, true) == 1, "prefix")
    t = 101
    report("log", string.rep("x", 5000))
    T.eq(#lines[2], #"ethnode-gateway: lua error in log: " + 400 + 1)
end)

T.test("at most one line a second, then a count of those held back", function()
    local lines, t = {}, 10
    local report = guard.reporter(function(l) lines[#lines + 1] = l end, function() return t end)
    report("access", "a")
    for _ = 1, 500 do T.eq(report("access", "a"), false) end
    T.eq(#lines, 1)
    t = 12
    report("access", "b")
    T.eq(lines[2], "ethnode-gateway: lua error in access: b (500 more in the last 2s)\n")
end)
