-- auth_spec.lua: sign-in over TCP; slow PIN checks happen off the loop, so
-- other clients are served meanwhile; failures count once toward lockout.
local e2e = require "e2e"

describe("sign-in", function()
    local srv
    before_each(function() srv = e2e.server() end)
    after_each(function() srv:cleanup() end)

    it("refuses a wrong PIN with unauthenticated", function()
        local c = srv:connect()
        local r = c:call("session.login", {store = "S001", staff = "1001", pin = "0000"})
        assert.is_false(r.ok)
        assert.are.equal("unauthenticated", r.error.code)
        r = c:call("session.login", {store = "S001", staff = "9999", pin = "1234"})
        assert.are.equal("unauthenticated", r.error.code)
        c:close()
    end)

    it("signs in with the right PIN", function()
        local c = srv:connect()
        local r = c:login("S001", "1001", "1234")
        assert.are.equal("1001", r.staff)
        c:close()
    end)

    it("needs a sign-in for everything but ping", function()
        local c = srv:connect()
        local r = c:call("order.get", {number = "S001-1"})
        assert.are.equal("unauthenticated", r.error.code)
        c:close()
    end)

    it("serves other connections while a PIN is being checked", function()
        local a, b = srv:connect(), srv:connect()
        local t0 = e2e.now()
        a:send("session.login", {store = "S001", staff = "1002", pin = "9999"})
        b:send("ping")
        assert.is_true(assert(b:recv()).ok)
        local t_ping = e2e.now() - t0
        assert.is_true(assert(a:recv()).ok)
        local t_login = e2e.now() - t0
        assert.is_true(t_ping <= t_login, ("ping %.3fs, login %.3fs"):format(t_ping, t_login))
        a:close(); b:close()
    end)

    it("counts a wrong PIN once toward the lockout", function()
        local c = srv:connect()
        for _ = 1, 4 do
            assert.are.equal("unauthenticated",
                c:call("session.login", {store = "S001", staff = "1001", pin = "0000"}).error.code)
        end
        -- four failures, under the limit of five: the right PIN still works
        assert.is_true(c:call("session.login", {store = "S001", staff = "1001", pin = "1234"}).ok)
        c:close()
    end)

    it("locks a staff id out after five wrong PINs", function()
        local c = srv:connect()
        for _ = 1, 5 do
            c:call("session.login", {store = "S001", staff = "1003", pin = "0000"})
        end
        local r = c:call("session.login", {store = "S002", staff = "1003", pin = "5555"})
        assert.are.equal("unauthenticated", r.error.code)
        c:close()
    end)
end)
