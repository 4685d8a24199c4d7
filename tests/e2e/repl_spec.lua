-- repl_spec.lua: the support REPL (PROTOCOL.md "The support REPL", SPEC A3):
-- `corder repl --connect` attached to a running server through its admin
-- socket, and `corder repl --db` on a database of its own, both driven
-- through a pipe the way a support script would (no terminal: no prompt).
local e2e = require "e2e"

-- Runs `corder repl ARGS` with text on stdin; returns exit code, stdout, stderr.
local function repl(args, text)
    local dir = e2e.tmpdir()
    e2e.write_file(dir .. "/in", text)
    local code = e2e.sh(e2e.q(e2e.bin) .. " repl " .. args .. " <" .. dir .. "/in >" .. dir
        .. "/o 2>" .. dir .. "/e")
    local out, err = e2e.read_file(dir .. "/o"), e2e.read_file(dir .. "/e")
    e2e.sh("rm -rf " .. e2e.q(dir))
    return code, out, err
end

-- A server with an admin socket and its own copy of the policies (so that
-- a reload can see a changed file).
local function admin_server()
    local srv = e2e.server({no_start = true})
    srv.policies = srv.dir .. "/policies"
    e2e.sh("cp -r " .. e2e.q(e2e.root .. "/policies") .. " " .. e2e.q(srv.policies))
    srv.sock = srv.dir .. "/admin.sock"
    srv.args = "--admin-socket " .. e2e.q(srv.sock)
    return srv:start()
end

local function new_order(srv)
    local c = srv:connect()
    c:login("S001", "1001", "1234")
    local o = c:ok("order.create", e2e.carryout_order())
    c:close()
    return o
end

describe("corder repl --connect", function()
    local srv
    setup(function() srv = admin_server() end)
    teardown(function() srv:cleanup() end)

    local function attached(text) return repl("--connect " .. e2e.q(srv.sock), text) end

    it("creates the admin socket with mode 0600", function()
        local p = io.popen("stat -c '%a %F' " .. e2e.q(srv.sock))
        local mode = p:read("l")
        p:close()
        assert.are.equal("600 socket", mode)
    end)

    it("prints an expression's value without return, and no prompt", function()
        local code, out, err = attached("1 + 1\n'a' .. 'b'\n")
        assert.are.equal(0, code)
        assert.are.equal("2\nab\n", out)
        assert.are.equal("", err)
    end)

    it("continues an unfinished chunk on the next lines", function()
        local code, out = attached("function sq(x)\n  return x * x\nend\nsq(7)\nfor i = 1,\n 2 do print(i) end\n")
        assert.are.equal(0, code)
        assert.are.equal("49\n1\n2\n", out)
    end)

    it("keeps globals for the session and prints tables readably", function()
        local _, out = attached("t = {b = {1, 2}, a = 'x'}\nt\n")
        assert.are.equal('{a = "x", b = {1, 2}}\n', out)
    end)

    it("reports a syntax error and goes on", function()
        local code, out, err = attached("x = = 1\n'still here'\n")
        assert.are.equal(1, code) -- piped input: any failed chunk fails the run
        assert.matches("^stdin:1: unexpected symbol near '='", err)
        assert.are.equal("still here\n", out)
    end)

    it("reports a runtime error with what was printed before it", function()
        local code, out, err = attached("print('before'); local t = nil; return t.x\n")
        assert.are.equal(1, code)
        assert.are.equal("before\n", out)
        assert.matches("attempt to index a nil value", err)
    end)

    it("stops a runaway chunk, even inside pcall, and the server keeps answering", function()
        local t0 = e2e.now()
        local code, out, err = attached("while true do end\npcall(function() while true do end end)\n'alive'\n")
        assert.are.equal(1, code)
        assert.matches("instruction budget exceeded", err)
        local _, n = err:gsub("instruction budget exceeded", "")
        assert.are.equal(2, n)
        assert.are.equal("alive\n", out)
        assert.is_true(e2e.now() - t0 < 15)
        local c = srv:connect()
        assert.is_true(c:ok("ping").pong)
        c:close()
    end)

    it("shows a real order as a summary, finds it and shows its history", function()
        local o = new_order(srv)
        local code, out, err = attached(("corder.order(%q)\ncorder.find{customer = 'C0001'}\n"
            .. "corder.history(%q)\ncorder.order(%q).status\n"):format(o.number, o.number, o.number))
        assert.are.equal("", err)
        assert.are.equal(0, code)
        assert.matches("order " .. o.number .. "  " .. o.status, out, 1, true)
        assert.matches("balance", out, 1, true)
        assert.matches("total 19.99", out, 1, true)
        assert.matches("%(%d+ orders?%)", out)
        assert.matches("order.create", out, 1, true)
        assert.matches("\n" .. o.status .. "\n$", out)
        assert.is_nil(out:find("unit_price", 1, true)) -- a summary, not a dump
    end)

    it("answers not_found as an error", function()
        local code, _, err = attached("corder.order('S001-999999')\n")
        assert.are.equal(1, code)
        assert.matches("not_found", err)
    end)

    it("changes go through the flows under the signed-in staff's name", function()
        local o = new_order(srv)
        local code, _, err = attached(("corder.call('order.cancel', {number = %q})\n"):format(o.number))
        assert.are.equal(1, code)
        assert.matches("corder.login", err, 1, true)
        local out
        code, out, err = attached(("corder.login('S001', '1001', '1234')\n"
            .. "corder.call('order.return', {number = %q, invoice = 1, lines = {{line = 1, qty = 1, reason = 'defect'}}}).order.status\n"
            .. "h = corder.history(%q)\nh[#h].op .. ' ' .. h[#h].staff\n"):format(o.number, o.number))
        assert.are.equal("", err)
        assert.are.equal(0, code)
        assert.matches("order.return 1001\n$", out)
    end)

    it("F10 from the console: corder.hold and corder.release under the signed-in manager", function()
        local o = new_order(srv)
        local code, out, err = attached(("corder.login('S001', '1002', '9999')\n"
            .. "corder.hold(%q, 'CHECK', 'call the customer').hold.code\n"
            .. "corder.order(%q).hold.note\n"
            .. "corder.release(%q).hold == nil\n"):format(o.number, o.number, o.number))
        assert.are.equal("", err)
        assert.are.equal(0, code)
        assert.matches("CHECK\ncall the customer\ntrue\n$", out)
    end)

    it("reloads a policy: not read-only, needs the permission, sees the new file", function()
        local code, _, err = attached("corder.reload('S001')\n")
        assert.are.equal(1, code)
        assert.matches("sign in first", err)
        code, _, err = attached("corder.login('S001', '1001', '1234')\ncorder.reload('S001')\n")
        assert.are.equal(1, code)
        assert.matches("approval_required", err)
        local before = srv:connect()
        before:login("S001", "1002", "9999")
        local v0 = before:ok("policy.info", {store = "S001"}).version
        before:close()
        local f = assert(io.open(srv.policies .. "/default.lua", "a"))
        f:write("\n-- touched by repl_spec\n")
        f:close()
        local out
        code, out, err = attached("corder.login('S001', '1002', '9999')\n"
            .. "corder.reload('S001').version\ncorder.policy('S001').version\n")
        assert.are.equal("", err)
        assert.are.equal(0, code)
        local v1, v2 = out:match("\n(%x+)\n(%x+)\n$")
        assert.is_truthy(v1, out)
        assert.are_not.equal(v0, v1)
        assert.are.equal(v1, v2)
    end)

    it("reports stats: connections, ops, commit batches, queue, policies", function()
        local code, out, err = attached("s = corder.stats()\n"
            .. "s.mode, s.connections.admin > 0, s.ops.ping ~= nil, s.commits.batches >= 0,"
            .. " s.queue.held, s.policies.S001.name\n")
        assert.are.equal("", err)
        assert.are.equal(0, code)
        assert.are.equal("attached\ttrue\ttrue\ttrue\t0\tdefault\n", out)
    end)

    it("lists the API with help()", function()
        local _, out = attached("help()\n")
        for _, name in ipairs({"corder.order", "corder.find", "corder.history", "corder.policy",
                               "corder.reload", "corder.sync", "corder.stats", "corder.login"}) do
            assert.matches(name, out, 1, true)
        end
    end)

    it("has sync status until sync.run exists", function()
        local code, out, err = attached("corder.sync('S001').mode\n")
        assert.are.equal("", err)
        assert.are.equal(0, code)
        assert.are.equal("async\n", out)
    end)

    it("is a sandbox: no io, no os.exit", function()
        local _, out = attached("type(io), type(os.exit), type(require)\n")
        assert.are.equal("nil\tnil\tnil\n", out)
    end)

    it("refuses admin.eval over TCP", function()
        local c = srv:connect()
        local r = c:call("admin.eval", {lua = "1"})
        assert.is_false(r.ok)
        assert.are.equal("unknown_op", r.error.code)
        c:close()
    end)

    it("speaks the JSON protocol on the admin socket too", function()
        local unix = require "socket.unix"
        local u = assert(unix.stream())
        u:settimeout(10)
        assert(u:connect(srv.sock))
        assert(u:send('{"id":7,"op":"admin.eval","args":{"lua":"6*7"}}\n{"id":8,"op":"ping"}\n'))
        local r1, r2 = assert(u:receive("*l")), assert(u:receive("*l"))
        u:close()
        assert.are.equal('{"id":7,"ok":true,"result":{"output":"42\\n"}}', r1)
        assert.matches('"pong":true', r2, 1, true)
    end)

    it("fails with 1 when nothing listens on the socket", function()
        local code, _, err = repl("--connect " .. e2e.q(srv.dir .. "/nope.sock"), "1\n")
        assert.are.equal(1, code)
        assert.matches("^corder: repl: cannot connect", err)
    end)
end)

describe("corder repl --db", function()
    local srv, number
    setup(function()
        srv = admin_server()
        number = new_order(srv).number
        srv:stop()
    end)
    teardown(function() srv:cleanup() end)

    local function here(text)
        return repl("--db " .. e2e.q(srv.db) .. " --policies " .. e2e.q(srv.policies), text)
    end

    it("evaluates expressions and multi-line chunks", function()
        local code, out, err = here("1 + 1\nfunction f(x)\n  return x + 1\nend\nprint(f(1))\n")
        assert.are.equal("", err)
        assert.are.equal(0, code)
        assert.are.equal("2\n2\n", out)
    end)

    it("reports syntax and runtime errors", function()
        local code, out, err = here("x = = 1\nerror('boom')\n'on'\n")
        assert.are.equal(1, code)
        assert.matches("stdin:1: unexpected symbol", err)
        assert.matches("stdin:1: boom", err)
        assert.are.equal("on\n", out)
    end)

    it("stops an infinite loop", function()
        local code, out, err = here("while true do end\n'next'\n")
        assert.are.equal(1, code)
        assert.matches("instruction budget exceeded", err)
        assert.are.equal("next\n", out)
    end)

    it("looks up the order, and reloads a policy as a manager", function()
        local code, out, err = here(("corder.order(%q)\ncorder.stats().mode\n"
            .. "corder.login('S001', '1002', '9999')\ncorder.reload('S001').name\n"):format(number))
        assert.are.equal("", err)
        assert.are.equal(0, code)
        assert.matches("order " .. number, out, 1, true)
        assert.matches("\nlocal\n", out, 1, true)
        assert.matches("\ndefault\n$", out)
    end)

    it("does not create a database that is not there", function()
        local missing = srv.dir .. "/missing.db"
        local code, _, err = repl("--db " .. e2e.q(missing), "1\n")
        assert.are.equal(1, code)
        assert.matches("^corder: repl: no database", err)
        assert.is_nil(e2e.read_file(missing))
    end)

    it("needs exactly one of --db and --connect", function()
        assert.are.equal(2, (repl("", "")))
        assert.are.equal(2, (repl("--db x.db --connect y.sock", "")))
        assert.are.equal(2, (repl("--bogus 1", "")))
    end)
end)
