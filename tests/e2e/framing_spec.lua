-- framing_spec.lua: PROTOCOL.md "Framing": one JSON object per line, the
-- 1 MiB cap, and every way a line can be unreadable.
local e2e = require "e2e"
local MAX = e2e.MAX_LINE

local function bad(c, line, want_id)
    assert(c:send_raw(line .. "\n"))
    local r = assert(c:recv())
    assert.is_false(r.ok)
    assert.are.equal("bad_request", r.error.code)
    assert.is_string(r.error.message)
    if want_id == nil then want_id = e2e.null end
    assert.are.equal(want_id, r.id)
    return r
end

describe("framing", function()
    local srv
    setup(function() srv = e2e.server() end)
    teardown(function() srv:cleanup() end)

    it("answers a line of exactly 1 MiB", function()
        local c = srv:connect()
        local head = '{"id":1,"op":"ping"}'
        local line = head .. string.rep(" ", MAX - #head)
        assert.are.equal(MAX, #line)
        c:send_raw(line .. "\n")
        local r = assert(c:recv())
        assert.is_true(r.ok)
        -- and the connection is still good
        assert.is_true(c:call("ping").ok)
        c:close()
    end)

    it("refuses a line of 1 MiB + 1 and closes the connection", function()
        local c = srv:connect()
        local head = '{"id":1,"op":"ping"}'
        c:send_raw('{"id":0,"op":"ping"}\n' .. head .. string.rep(" ", MAX + 1 - #head) .. "\n")
        local first = assert(c:recv())
        assert.is_true(first.ok) -- what came before is still answered
        local r = assert(c:recv())
        assert.is_false(r.ok)
        assert.are.equal("bad_request", r.error.code)
        assert.are.equal(e2e.null, r.id)
        assert.is_true(c:closed())
        -- others are unaffected
        local d = srv:connect()
        assert.is_true(d:call("ping").ok)
        d:close()
    end)

    it("refuses an endless line without waiting for its newline", function()
        local c = srv:connect()
        c:settimeout(0.5)
        c:send_raw(string.rep("x", MAX + 10)) -- no "\n"
        c:settimeout(10)
        local r = assert(c:recv())
        assert.are.equal("bad_request", r.error.code)
        assert.is_true(c:closed())
    end)

    it("answers malformed JSON with bad_request and id null, and keeps the connection", function()
        local c = srv:connect()
        bad(c, '{"id":1,"op":"ping"')
        bad(c, 'hello')
        bad(c, '{"id":1,"op":"ping"} trailing')
        assert.is_true(c:call("ping").ok)
        c:close()
    end)

    it("answers a JSON value that is not an object", function()
        local c = srv:connect()
        bad(c, '[1,2,3]')
        bad(c, '"ping"')
        bad(c, '42')
        bad(c, 'null')
        c:close()
    end)

    it("refuses invalid UTF-8", function()
        local c = srv:connect()
        bad(c, '{"id":1,"op":"ping","args":{"x":"\xff\xfe"}}')
        bad(c, '{"id":1,"op":"p\xc3"}')
        assert.is_true(c:call("ping").ok)
        c:close()
    end)

    it("refuses deep nesting", function()
        local c = srv:connect()
        local n = 100000
        bad(c, '{"id":1,"op":"ping","args":{"x":' .. string.rep("[", n) .. string.rep("]", n) .. '}}')
        assert.is_true(c:call("ping").ok)
        c:close()
    end)

    it("refuses duplicate keys", function()
        local c = srv:connect()
        bad(c, '{"id":1,"id":2,"op":"ping"}')
        bad(c, '{"id":1,"op":"session.login","args":{"staff":"1001","staff":"1002","pin":"1234","store":"S001"}}')
        c:close()
    end)

    it("echoes the id of a readable request with a mistyped field", function()
        local c = srv:connect()
        bad(c, '{"id":7,"op":42}', 7)
        bad(c, '{"id":8}', 8)
        bad(c, '{"id":9,"op":"ping","args":[]}', 9)
        c:close()
    end)

    it("answers the last line of a client that half-closes", function()
        local c = srv:connect()
        c:send_raw('{"id":1,"op":"ping"}\n{"id":2,"op":"ping"}\n')
        c.sock:shutdown("send")
        assert.are.equal(1, assert(c:recv()).id)
        assert.are.equal(2, assert(c:recv()).id)
        assert.is_true(c:closed())
    end)
end)
