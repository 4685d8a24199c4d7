-- pipeline_spec.lua: requests sent in one write are answered in order,
-- reads and writes mixed, across group commits.
local e2e = require "e2e"

describe("pipelining", function()
    local srv
    setup(function() srv = e2e.server() end)
    teardown(function() srv:cleanup() end)

    it("answers 100 pings sent in one write, in order", function()
        local c = srv:connect()
        local buf = {}
        for i = 1, 100 do buf[i] = c:request("ping", nil, i) end
        c:send_raw(table.concat(buf))
        for i = 1, 100 do
            local r = assert(c:recv())
            assert.are.equal(i, r.id)
            assert.is_true(r.ok)
        end
        c:close()
    end)

    it("keeps order when a sign-in (slow PIN check) comes first", function()
        local c = srv:connect()
        local buf = {
            c:request("session.login", {store = "S001", staff = "1002", pin = "9999"}, "login"),
            c:request("order.create", e2e.carryout_order(), "create"),
        }
        for i = 1, 20 do buf[#buf + 1] = c:request("ping", nil, i) end
        c:send_raw(table.concat(buf))
        local r = assert(c:recv())
        assert.are.equal("login", r.id)
        assert.is_true(r.ok)
        r = assert(c:recv())
        assert.are.equal("create", r.id)
        assert.are_not.equal("unauthenticated", r.ok or r.error.code) -- the login counted
        for i = 1, 20 do assert.are.equal(i, assert(c:recv()).id) end
        c:close()
    end)

    it("keeps order per connection with many connections writing at once", function()
        local conns = {}
        for k = 1, 20 do
            conns[k] = srv:connect()
            conns[k]:login("S001", "1001", "1234")
        end
        for k = 1, 20 do
            local buf = {}
            for i = 1, 10 do
                buf[#buf + 1] = conns[k]:request(i % 2 == 0 and "ping" or "order.create",
                    i % 2 == 0 and nil or e2e.carryout_order(), i)
            end
            conns[k]:send_raw(table.concat(buf))
        end
        for k = 1, 20 do
            for i = 1, 10 do assert.are.equal(i, assert(conns[k]:recv()).id) end
            conns[k]:close()
        end
    end)
end)

describe("back-pressure", function()
    local srv
    setup(function() srv = e2e.server() end)
    teardown(function() srv:cleanup() end)

    it("stops reading a client that does not read its answers, and serves others", function()
        local c = srv:connect()
        local line = c:request("ping", nil, 1)
        local chunk = string.rep(line, 4096)
        c:settimeout(0.2)
        local sent, stalled = 0, false
        for _ = 1, 2000 do -- up to ~100 MB; the server must stall us well before
            local last, err, partial = c.sock:send(chunk)
            if not last then
                sent = sent + (partial or 0)
                stalled = err == "timeout"
                break
            end
            sent = sent + #chunk
        end
        assert.is_true(stalled, "the server kept reading " .. sent .. " bytes")
        -- the loop is not blocked by the stalled client
        local d = srv:connect()
        assert.is_true(d:call("ping").ok)
        d:close()
        -- its memory stayed bounded
        local status = e2e.read_file("/proc/" .. srv.pid .. "/status") or ""
        local rss = tonumber(status:match("VmRSS:%s*(%d+)") or "0")
        assert.is_true(rss < 512 * 1024, "server RSS " .. rss .. " kB")
        c:close()
    end)
end)
