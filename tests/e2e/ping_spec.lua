-- ping_spec.lua: the server starts, prints its listening line and answers ping.
local e2e = require "e2e"

describe("ping", function()
    local srv
    setup(function() srv = e2e.server() end)
    teardown(function() srv:cleanup() end)

    it("answers pong without a sign-in", function()
        local c = srv:connect()
        local r = c:call("ping")
        assert.is_true(r.ok)
        assert.is_true(r.result.pong)
        c:close()
    end)

    it("echoes any scalar id", function()
        local c = srv:connect()
        for _, id in ipairs({"abc", 42, 1.5, true}) do
            c:send("ping", nil, id)
            local r = assert(c:recv())
            assert.are.equal(id, r.id)
            assert.is_true(r.ok)
        end
        c:send_raw('{"id":null,"op":"ping"}\n')
        local r = assert(c:recv())
        assert.are.equal(e2e.null, r.id)
        c:close()
    end)

    it("accepts empty args", function()
        local c = srv:connect()
        c:send_raw('{"id":1,"op":"ping","args":{}}\n')
        local r = assert(c:recv())
        assert.is_true(r.ok)
        c:close()
    end)
end)
