-- slowlog_spec.lua: the slow-request log (SPEC OP5, docs/operations.md
-- "The slow-request log"): corder.slowlog() in the console lists recent
-- requests that took at least the threshold (`serve --slowlog-ms`, or
-- corder.slowlog{threshold = ms}), with op, time, order and staff, in a
-- bounded ring; and corder.backup(path) from the console.
local e2e = require "e2e"

local function repl(srv, text)
    local dir = e2e.tmpdir()
    e2e.write_file(dir .. "/in", text)
    local code = e2e.sh(e2e.q(e2e.bin) .. " repl --connect " .. e2e.q(srv.sock) .. " <" .. dir
        .. "/in >" .. dir .. "/o 2>" .. dir .. "/e")
    local out, err = e2e.read_file(dir .. "/o"), e2e.read_file(dir .. "/e")
    e2e.sh("rm -rf " .. e2e.q(dir))
    return code, out, err
end

describe("OP5: corder.slowlog()", function()
    local srv
    setup(function()
        srv = e2e.server({no_start = true})
        srv.sock = srv.dir .. "/admin.sock"
        srv.args = "--admin-socket " .. e2e.q(srv.sock) .. " --slowlog-ms 0"
        srv:start()
    end)
    teardown(function() srv:cleanup() end)

    it("OP5: records requests at or over the threshold: op, ms, order, store, staff", function()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local o = c:ok("order.create", e2e.carryout_order("slow-1"))
        c:ok("order.get", {number = o.number})
        c:close()
        local code, out, err = repl(srv, [[
s = corder.slowlog()
print(s.threshold_ms)
for _, e in ipairs(s.entries) do
  if e.op == "order.create" or e.op == "order.get" then
    print(e.op, e.order, e.store, e.staff, e.code, type(e.ms), e.ms >= 0)
  end
end
]])
        assert.are.equal(0, code, err)
        assert.matches("^0\n", out)
        -- newest first
        local get = out:find("order.get\t" .. o.number .. "\tS001\t1001\tok\tnumber\ttrue", 1, true)
        local create = out:find("order.create\t" .. o.number .. "\tS001\t1001\tok\tnumber\ttrue", 1, true)
        assert.truthy(get, out)
        assert.truthy(create, out)
        assert.is_true(get < create, out)
    end)

    it("OP5: the threshold can be raised from the console; the ring stays bounded", function()
        local c = srv:connect()
        for _ = 1, 300 do c:send("ping") end
        for _ = 1, 300 do assert(c:recv()) end
        local _, out = repl(srv, "#corder.slowlog().entries\n")
        assert.are.equal("128\n", out)
        local code, out2, err = repl(srv, "s = corder.slowlog{threshold = 60000, clear = true}\n"
            .. "print(s.threshold_ms, #s.entries)\n")
        assert.are.equal(0, code, err)
        assert.are.equal("60000\t0\n", out2)
        assert.is_true(c:ok("ping").pong)
        c:close()
        local _, out3 = repl(srv, "#corder.slowlog().entries\n")
        assert.are.equal("0\n", out3)
    end)

    it("OP3: corder.backup(path) from the console writes a checked copy", function()
        local path = srv.dir .. "/console-copy.db"
        local code, out, err = repl(srv, ("b = corder.backup(%q)\nprint(b.integrity, b.schema > 0, b.path)\n")
            :format(path))
        assert.are.equal(0, code, err)
        assert.are.equal("ok\ttrue\t" .. path .. "\n", out)
        local p = io.popen("sqlite3 " .. e2e.q(path) .. " 'PRAGMA integrity_check' 2>&1")
        assert.are.equal("ok\n", p:read("a"))
        p:close()
    end)

    it("a bad --slowlog-ms is bad usage", function()
        local code, _, err = e2e.run("serve --db " .. e2e.q(srv.db) .. " --slowlog-ms -1")
        assert.are.equal(2, code)
        assert.matches("slowlog", err)
    end)
end)
