local T = ...
local bounded = require("ethnode.bounded")

T.test("holds at most max keys, starting over when full, and counts what it holds", function()
    local b = bounded.new(3)
    T.eq(b:put("a", 1), false)
    T.eq(b:put("a", 2), false) -- replacing is not a new key
    T.eq(b:put("b", 1), false)
    T.eq(b:put("c", 1), false)
    T.eq(b.count, 3)
    T.eq(b:get("a"), 2)
    T.eq(b:put("d", 1), true) -- full: forgets a, b, c first
    T.eq(b.count, 1)
    T.eq(b:get("a"), nil)
    T.eq(b:get("d"), 1)
    T.eq(b:take("d"), 1)
    T.eq(b:take("d"), nil)
    T.eq(b.count, 0)
end)
