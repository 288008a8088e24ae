-- luacheck (Debian's lua-check 1.1.0, installed by scripts/setup-test-deps.sh) over the gateway's Lua, the
-- benchmark's upstream and the Lua tests; tests/lua.test.ts runs it. The modules run in OpenResty's LuaJIT.
std = "ngx_lua"
max_line_length = 160
-- A method's implicit self may go unused (stand-in sockets and dicts in the tests).
self = false
-- The tests run under plain LuaJIT; a test may stand a fake ngx in.
files["tests/lua/"] = { std = "luajit", globals = { "ngx" } }
