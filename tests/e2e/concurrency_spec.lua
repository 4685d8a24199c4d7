-- concurrency_spec.lua: 1,000 clients connected at once, all served.
local e2e = require "e2e"

describe("1000 concurrent connections", function()
    local srv
    setup(function() srv = e2e.server() end)
    teardown(function() srv:cleanup() end)

    it("each get their ping answered", function()
        local n = 1000
        local conns = {}
        for i = 1, n do
            local c, err = e2e.connect(srv.port)
            assert(c, "connect " .. i .. ": " .. tostring(err))
            conns[i] = c
        end
        for i = 1, n do conns[i]:send("ping", nil, i) end
        for i = 1, n do
            local r = assert(conns[i]:recv())
            assert.are.equal(i, r.id)
            assert.is_true(r.ok)
        end
        -- a second round on the same connections, all still open
        for i = 1, n do conns[i]:send("ping", nil, -i) end
        for i = 1, n do assert.are.equal(-i, assert(conns[i]:recv()).id) end
        for i = 1, n do conns[i]:close() end
        assert.is_true(srv:connect():call("ping").ok)
    end)
end)
