-- hq_token_spec.lua: a wrong HQ token is slowed down like a wrong PIN.
-- Wrong session.login_store tokens in a row from one source: the first
-- few are answered at once, then each answer waits longer, never more than
-- 2 s, on a timer (the loop keeps serving: a ping from another connection
-- stays fast meanwhile); the right token is never held and starts over.
-- Also: the token from a file or the environment instead of the command
-- line (where ps shows it).
local e2e = require "e2e"

describe("wrong HQ tokens", function()
    local hq
    setup(function() hq = e2e.hq() end)
    teardown(function() hq:cleanup() end)

    it("are answered later and later, never later than 2 s, without stalling others", function()
        local c, other = hq:connect(), hq:connect()
        local waits, pings = {}, {}
        for i = 1, 9 do
            local id = c:send("session.login_store", {store = "S001", token = "wrong-" .. i})
            local t0 = e2e.now()
            -- while the answer is held, another connection is served at once
            local p0 = e2e.now()
            assert.is_true(other:ok("ping").pong)
            pings[i] = e2e.now() - p0
            local r = assert(c:recv())
            waits[i] = e2e.now() - t0
            assert.are.equal(id, r.id)
            assert.are.equal("unauthenticated", r.error.code)
        end
        for i = 1, 3 do assert.is_true(waits[i] < 0.08, "answer " .. i .. " took " .. waits[i]) end
        for i = 4, 9 do
            assert.is_true(waits[i] >= 0.08, "answer " .. i .. " took " .. waits[i])
            assert.is_true(waits[i] < 2.3, "answer " .. i .. " took " .. waits[i])
        end
        for i = 5, 8 do
            assert.is_true(waits[i] > waits[i - 1] * 1.5, "answer " .. i .. " not later than " .. (i - 1))
        end
        assert.is_true(waits[9] >= 1.8, "capped at 2 s: " .. waits[9])
        for i = 1, 9 do assert.is_true(pings[i] < 0.1, "ping took " .. pings[i]) end
        -- a new connection from the same source is slowed down too
        local t0 = e2e.now()
        local r = hq:connect():call("session.login_store", {store = "S001", token = "wrong"})
        assert.are.equal("unauthenticated", r.error.code)
        assert.is_true(e2e.now() - t0 >= 1.8)
        -- the right token is never held, and starts the source over
        t0 = e2e.now()
        c:login_store("S001")
        assert.is_true(e2e.now() - t0 < 0.1)
        t0 = e2e.now()
        assert.are.equal("unauthenticated",
            c:call("session.login_store", {store = "S001", token = "wrong"}).error.code)
        assert.is_true(e2e.now() - t0 < 0.08)
    end)

    it("a shutdown answers a held sign-in before exiting", function()
        local c = hq:connect()
        for i = 1, 8 do c:send("session.login_store", {store = "S001", token = "x" .. i}) end
        e2e.sleep(0.3)
        assert.are.equal(0, hq:stop())
        local n = 0
        while true do
            local r = c:recv()
            if not r then break end
            assert.are.equal("unauthenticated", r.error.code)
            n = n + 1
        end
        assert.is_true(n >= 4, "answers before exit: " .. n)
    end)
end)
