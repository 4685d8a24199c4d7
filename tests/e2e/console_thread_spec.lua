-- console_thread_spec.lua: the support console never stalls the tills (SPEC
-- OP5). A console chunk runs on its session's own thread; only what it asks
-- of the engine goes through the server's loop, as a request like a till's.
-- So a runaway chunk costs the tills nothing measurable while it runs, and
-- it is still stopped by its budget.
local e2e = require "e2e"
local socket = require "socket"

local function admin_server()
    local srv = e2e.server({no_start = true})
    srv.sock = srv.dir .. "/admin.sock"
    srv.args = "--admin-socket " .. e2e.q(srv.sock)
    return srv:start()
end

-- Starts `corder repl --connect` on text in the background; returns a
-- function telling whether it has finished, and one that waits for its output.
local function repl_async(srv, text, name)
    local inp, out = srv.dir .. "/" .. name .. ".in", srv.dir .. "/" .. name .. ".out"
    e2e.write_file(inp, text)
    e2e.sh("(" .. e2e.q(e2e.bin) .. " repl --connect " .. e2e.q(srv.sock) .. " <" .. e2e.q(inp)
        .. " >" .. e2e.q(out) .. " 2>&1; touch " .. e2e.q(out .. ".done") .. ") >/dev/null 2>&1 &")
    return function() return e2e.read_file(out .. ".done") ~= nil end,
        function()
            e2e.wait_for(function() return e2e.read_file(out .. ".done") end, 30, "the console")
            return e2e.read_file(out)
        end
end

local function p99(xs)
    table.sort(xs)
    return xs[math.max(1, math.ceil(#xs * 0.99))]
end

-- Creates orders one after another for `seconds` (or n of them); their latencies.
local function creates(c, tag, n, seconds, stop)
    local out = {}
    local t_end = e2e.now() + seconds
    for i = 1, n do
        local t0 = socket.gettime()
        c:ok("order.create", e2e.carryout_order(tag .. i))
        out[#out + 1] = socket.gettime() - t0
        if e2e.now() > t_end or (stop and stop()) then break end
    end
    return out
end

describe("OP5: the console never stalls the tills", function()
    local srv
    before_each(function() srv = admin_server() end)
    after_each(function() srv:cleanup() end)

    it("OP5: create p99 with a runaway `while true do end` chunk stays close to without one", function()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        creates(c, "warm-", 20, 5)
        local base = creates(c, "base-", 300, 1.5)
        local finished, output = repl_async(srv, "while true do end\n'after'\n", "runaway")
        e2e.sleep(0.1) -- the chunk is spinning on its thread now
        assert.is_false(finished())
        local during = creates(c, "run-", 300, 1.5, finished)
        local still_running = not finished()
        local out = output()
        c:close()
        local pb, pd = p99(base), p99(during)
        io.stderr:write(("p99 base %.2f ms during %.2f ms (%d, %d)\n"):format(pb * 1000, pd * 1000, #base, #during))
        assert.is_true(still_running, "the runaway chunk ended before the tills' measurement did")
        assert.is_true(#during >= 20, "only " .. #during .. " creates while the chunk ran")
        assert.is_true(pd < 2 * pb + 0.020, ("create p99 %.1f ms with a runaway chunk, %.1f ms without")
            :format(pd * 1000, pb * 1000))
        -- and the chunk was still stopped by its budget, its console going on
        assert.matches("instruction budget exceeded", out)
        assert.matches("after", out)
    end)

    it("OP5: a console closed in the middle of a runaway chunk frees its thread; shutdown is clean", function()
        local finished = repl_async(srv, "while true do end\n", "closed")
        e2e.sleep(0.2)
        local c = srv:connect()
        assert.is_true(c:ok("ping").pong)
        c:close()
        local t0 = e2e.now()
        assert.are.equal(0, srv:stop())
        assert.is_true(e2e.now() - t0 < 6, "shutdown took too long")
        e2e.wait_for(finished, 10, "the console to end")
    end)

    it("OP5: changes from the console go through the request path under the signed-in name", function()
        local _, output = repl_async(srv, [[
corder.login("S001", "1001", "1234")
o = corder.call("order.create", {customer = "C0001", lines = {{item = "P300", qty = 1,
  delivery = {mode = "carryout"}}}, payments = {{tender = "cash", amount = 1999}}})
print(o.number, o.created_by)
]], "write")
        local out = output()
        local number, by = out:match("(S001%-%d+)\t(%d+)")
        assert.truthy(number, out)
        assert.are.equal("1001", by)
        local c = srv:connect()
        c:login("S001", "1002", "9999")
        assert.are.equal(number, c:ok("order.get", {number = number}).number)
        c:close()
    end)
end)
