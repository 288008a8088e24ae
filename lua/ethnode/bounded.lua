-- A worker-local memory keyed by what clients send (method names, addresses, requests): once it holds `max`
-- keys it forgets them all and starts over, so no client can grow it without bound. Pure.
local setmetatable = setmetatable

local _M = { _VERSION = "0.1.0" }

function _M.new(max)
    return setmetatable({ items = {}, count = 0, max = max }, { __index = _M })
end

function _M.get(self, key)
    return self.items[key]
end

-- Stores `value` under `key`. Returns true when the memory was full and started over first.
function _M.put(self, key, value)
    local items, forgot = self.items, false
    if items[key] == nil then
        if self.count >= self.max then
            items, forgot = {}, true
            self.items, self.count = items, 0
        end
        self.count = self.count + 1
    end
    items[key] = value
    return forgot
end

-- Removes `key`, returning what it held (nil when nothing).
function _M.take(self, key)
    local items = self.items
    local value = items[key]
    if value ~= nil then
        items[key] = nil
        self.count = self.count - 1
    end
    return value
end

return _M
