-- A small test runner for the gateway's pure Lua modules under plain LuaJIT (no nginx).
-- Usage: luajit tests/lua/runner.lua <lua dir> <test files...>; prints "N passed, M failed".
package.path = arg[1] .. "/?.lua;" .. package.path

local passed, failed = 0, 0

local T = {}

function T.test(name, fn)
    local ok, err = pcall(fn)
    if ok then
        passed = passed + 1
    else
        failed = failed + 1
        io.stderr:write("FAIL ", name, ": ", tostring(err), "\n")
    end
end

local function show(v)
    if type(v) == "string" then return string.format("%q", v) end
    return tostring(v)
end

function T.eq(actual, expected, what)
    if actual ~= expected then
        error((what or "value") .. ": expected " .. show(expected) .. ", got " .. show(actual), 2)
    end
end

function T.truthy(v, what)
    if not v then error((what or "value") .. " should be truthy", 2) end
end

-- A table-backed stand-in for ngx.shared.DICT with the same incr/get/set/get_keys semantics.
function T.dict()
    local data = {}
    local d = {}
    function d:get(k) return data[k] end
    function d:set(k, v) data[k] = v return true end
    function d:incr(k, v, init)
        if data[k] == nil then
            if init == nil then return nil, "not found" end
            data[k] = init
        end
        data[k] = data[k] + v
        return data[k]
    end
    function d:get_keys() local ks = {} for k in pairs(data) do ks[#ks + 1] = k end return ks end
    return d
end

for i = 2, #arg do
    local chunk = assert(loadfile(arg[i]))
    chunk(T)
end
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
