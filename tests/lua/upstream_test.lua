local T = ...
local upstream = require("ethnode.upstream")

local function pool(lag)
    return upstream.new(T.dict(), { { name = "a" }, { name = "b" }, { name = "c" } }, lag or 8)
end

T.test("unchecked backends serve (the first check runs at start)", function()
    T.eq(pool():healthy("a"), true)
end)

T.test("down, syncing and lagging backends are excluded", function()
    local p = pool(8)
    local best = p:apply({ a = { up = true, syncing = false, head = 100 }, b = { up = true, syncing = true, head = 100 },
        c = { up = true, syncing = false, head = 91 } })
    T.eq(best, 100)
    T.eq(p:healthy("a"), true)
    T.eq(p:healthy("b"), false)
    T.eq(p:healthy("c"), false)
    p:apply({ a = { up = false }, b = { up = true, syncing = false, head = 100 }, c = { up = true, syncing = false, head = 92 } })
    T.eq(p:healthy("a"), false)
    T.eq(p:healthy("c"), true)
end)

T.test("picks round-robin among healthy, skipping the one that failed", function()
    local p = pool()
    p:apply({ a = { up = true, syncing = false, head = 1 }, b = { up = true, syncing = false, head = 1 }, c = { up = false } })
    local seen = {}
    for _ = 1, 4 do seen[#seen + 1] = p:pick().name end
    T.eq(table.concat(seen, ","), "a,b,a,b")
    T.eq(p:pick("a").name, "b")
    T.eq(p:pick("b").name, "a")
end)

T.test("no healthy backend means no pick", function()
    local p = pool()
    p:apply({ a = { up = false }, b = { up = false }, c = { up = false } })
    T.eq(p:pick(), nil)
    T.eq(p:any_healthy(), false)
end)

T.test("reads a probe answer in any order", function()
    local r = upstream.read_probe({ { id = 2, result = "0x10" }, { id = 1, result = false } })
    T.eq(r.up, true)
    T.eq(r.head, 16)
    T.eq(r.syncing, false)
    T.eq(upstream.read_probe({ { id = 1, result = { currentBlock = "0x1" } }, { id = 2, result = "0x10" } }).syncing, true)
    T.eq(upstream.read_probe("garbage").up, false)
end)

local function cluster(lag)
    return upstream.new(T.dict(), { { name = "own", ["local"] = true }, { name = "p1" }, { name = "p2" } }, lag or 8)
end

local all_up = function(own_head)
    return { own = { up = true, syncing = false, head = own_head or 50 }, p1 = { up = true, syncing = false, head = 50 },
        p2 = { up = true, syncing = false, head = 50 } }
end

T.test("the node's own execution client is chosen while it serves; the peers take over when it does not", function()
    local p = cluster()
    p:apply(all_up())
    for _ = 1, 3 do T.eq(p:pick().name, "own") end
    -- A failed idempotent read retries on a peer, never on the one that failed.
    T.eq(p:pick("own").name, "p1")
    p:apply(all_up(30))
    local first, second = p:pick().name, p:pick().name
    T.eq(first ~= "own" and second ~= "own" and first ~= second, true)
    T.eq(p:pick().name, first)
end)

T.test("a drained node is probed but never chosen, and says whether it could serve", function()
    local d = T.dict()
    local p = upstream.new(d, { { name = "own", ["local"] = true }, { name = "p1" } }, 8)
    p:apply({ own = { up = true, syncing = false, head = 50 }, p1 = { up = true, syncing = false, head = 50 } }, "own")
    T.eq(p:healthy("own"), false)
    T.eq(d:get("why:own"), "drained")
    T.eq(d:get("ready:own"), 1)
    T.eq(d:get("head:own"), 50)
    T.eq(p:pick().name, "p1")
    -- Restarted and still catching up: drained, not ready.
    p:apply({ own = { up = true, syncing = false, head = 20 }, p1 = { up = true, syncing = false, head = 50 } }, "own")
    T.eq(d:get("ready:own"), 0)
    T.eq(d:get("why:own"), "lagging")
    p:apply({ own = { up = false }, p1 = { up = true, syncing = false, head = 51 } }, "own")
    T.eq(d:get("why:own"), "down")
    -- Undrained: chosen again.
    p:apply({ own = { up = true, syncing = false, head = 51 }, p1 = { up = true, syncing = false, head = 51 } })
    T.eq(p:pick().name, "own")
end)
