-- sockio_spec.lua: the server's own socket reads and writes on plain TCP
-- (engine/net/server.c, "Few system calls per request"): reads of up to
-- 64 KiB that cut lines anywhere, answers written straight after a COMMIT,
-- and the rest the kernel would not take left to wait for the socket.
-- PROTOCOL.md "Framing": responses on one connection come back in request
-- order, whatever the path their bytes took.
local e2e = require "e2e"

-- Pings with wide ids: long answers fill socket buffers in fewer lines.
local PAD = string.rep("x", 400)
local function id_of(i) return string.format("%s%09d", PAD, i) end

describe("socket I/O on plain TCP", function()
    local srv
    setup(function() srv = e2e.server() end)
    teardown(function() srv:cleanup() end)

    it("answers a burst far larger than one read, lines cut anywhere, in order", function()
        -- ~1.3 MB in one send: the server's 64 KiB reads end inside lines.
        local c = srv:connect()
        local buf = {}
        for i = 1, 3000 do buf[i] = c:request("ping", nil, id_of(i)) end
        c:send_raw(table.concat(buf))
        for i = 1, 3000 do
            local r = assert(c:recv())
            assert.are.equal(id_of(i), r.id)
            assert.is_true(r.ok)
        end
        c:close()
    end)

    it("gives a client that stopped reading every answer, in order, once it reads again",
        function()
            -- The client sends until the server stops reading it (its unsent
            -- answers over the budget, the kernel's buffers full), then reads:
            -- the answers the socket would not take waited in the server and
            -- come first, then those of the lines it had not yet read.
            local c = srv:connect()
            local line = c:request("ping", nil, id_of(1))
            local L = #line
            c:settimeout(0.2)
            local sent, stalled, n = 0, false, 0
            while n < 200000 do -- ~85 MB at most; the server must stall us well before
                local chunk = {}
                for k = 1, 500 do chunk[k] = c:request("ping", nil, id_of(n + k)) end
                chunk = table.concat(chunk)
                local last, err, partial = c.sock:send(chunk)
                if not last then
                    sent = sent + (partial or 0)
                    stalled = err == "timeout"
                    break
                end
                sent = sent + #chunk
                n = n + 500
            end
            assert.is_true(stalled, "the server kept reading " .. sent .. " bytes")
            c:settimeout(10)
            local full, rest = sent // L, sent % L
            for i = 1, full do
                local r = assert(c:recv())
                assert.are.equal(id_of(i), r.id)
            end
            if rest > 0 then -- the line the stalled send cut: finish it
                c:send_raw(c:request("ping", nil, id_of(full + 1)):sub(rest + 1))
                assert.are.equal(id_of(full + 1), assert(c:recv()).id)
            end
            assert.is_true(c:call("ping").ok) -- and it is served as before
            c:close()
        end)

    it("answers every line of a burst from a client that half-closes, then closes", function()
        local c = srv:connect()
        local buf = {}
        for i = 1, 2000 do buf[i] = c:request("ping", nil, id_of(i)) end
        c:send_raw(table.concat(buf))
        c.sock:shutdown("send")
        for i = 1, 2000 do assert.are.equal(id_of(i), assert(c:recv()).id) end
        assert.is_true(c:closed())
    end)

    it("answers writes only after their COMMIT, in order, many connections at once", function()
        -- Each connection pipelines creates and reads of what it made; every
        -- answer that says ok names an order the database holds.
        local conns = {}
        for k = 1, 40 do
            conns[k] = srv:connect()
            conns[k]:login("S001", "1001", "1234")
        end
        for k = 1, 40 do
            local buf = {}
            for i = 1, 6 do
                if i % 3 == 0 then
                    buf[i] = conns[k]:request("ping", nil, i)
                else
                    buf[i] = conns[k]:request("order.create", e2e.carryout_order(), i)
                end
            end
            conns[k]:send_raw(table.concat(buf))
        end
        local numbers = {}
        for k = 1, 40 do
            for i = 1, 6 do
                local r = assert(conns[k]:recv())
                assert.are.equal(i, r.id)
                assert.is_true(r.ok, r.error and r.error.message)
                if i % 3 ~= 0 then numbers[#numbers + 1] = r.result.number end
            end
            conns[k]:close()
        end
        local seen = {}
        for _, number in ipairs(numbers) do
            assert.is_nil(seen[number], number .. " answered twice")
            seen[number] = true
        end
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        for _, number in ipairs(numbers) do
            local got = assert(c:call("order.get", {number = number}))
            assert.is_true(got.ok, number)
        end
        c:close()
    end)
end)
