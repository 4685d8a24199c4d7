-- shutdown_spec.lua: SIGTERM/SIGINT stop the server cleanly: what was read is
-- answered, the database is closed intact, the exit status is 0.
local e2e = require "e2e"

describe("shutdown", function()
    local srv
    before_each(function() srv = e2e.server() end)
    after_each(function() srv:cleanup() end)

    it("exits 0 on SIGTERM and leaves an intact database", function()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        c:ok("order.create", e2e.carryout_order())
        assert.are.equal(0, srv:stop("TERM"))
        assert.is_true(c:closed())
        assert.are.equal("ok\n", srv:sql("PRAGMA integrity_check"))
        -- closed cleanly: the WAL was checkpointed away
        assert.is_nil(e2e.read_file(srv.db .. "-wal"))
    end)

    it("exits 0 on SIGINT", function()
        assert.is_true(srv:connect():call("ping").ok)
        assert.are.equal(0, srv:stop("INT"))
    end)

    it("answers requests in flight and keeps what it acknowledged", function()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local buf = {}
        for i = 1, 200 do buf[i] = c:request("order.create", e2e.carryout_order(), i) end
        c:send_raw(table.concat(buf))
        srv:signal("TERM")
        local acked = {}
        while true do
            local r, err = c:recv()
            if not r then
                -- lines the server had not read when the signal came are
                -- not answered; the stream just ends
                assert.is_truthy(err == "closed" or err:match("reset"), err)
                break
            end
            assert.is_true(r.ok, "in-flight request failed: " .. require("cjson").encode(r))
            acked[#acked + 1] = r.result.number
        end
        assert.are.equal(0, srv:wait())
        srv:start()
        local d = srv:connect()
        d:login("S001", "1001", "1234")
        for _, n in ipairs(acked) do d:ok("order.get", {number = n}) end
    end)

    it("serves the admin socket with mode 0600 and removes it at exit", function()
        srv:stop()
        local sock = srv.dir .. "/admin.sock"
        srv.args = "--admin-socket " .. e2e.q(sock)
        srv:start()
        local p = io.popen("stat -c %a " .. e2e.q(sock))
        assert.are.equal("600", p:read("l"))
        p:close()
        local u = require("socket.unix")()
        u:settimeout(5)
        assert(u:connect(sock))
        u:send('{"id":1,"op":"ping"}\n')
        local line = assert(u:receive("*l"))
        assert.is_true(require("cjson").decode(line).ok)
        u:close()
        assert.are.equal(0, srv:stop())
        assert.is_nil(io.open(sock))
    end)
end)
