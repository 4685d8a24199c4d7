-- backup_spec.lua: `corder backup` (SPEC OP3, PROTOCOL.md "Command line"):
-- a copy of a live database taken while tills create orders; it opens,
-- passes the integrity check, holds every order acknowledged before it
-- began, and the tills were never held up for long while it ran.
local e2e = require "e2e"
local socket = require "socket"

describe("OP3: corder backup", function()
    local srv
    setup(function()
        srv = e2e.server({no_start = true})
        -- Some 20 MB of other pages, so that the copy takes a while (many
        -- steps) and the tills' requests fall inside it.
        local out = srv:sql("CREATE TABLE e2e_filler(x BLOB);"
            .. " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
            .. " INSERT INTO e2e_filler SELECT randomblob(1000) FROM n;")
        assert.are.equal("", out)
        srv:start()
    end)
    teardown(function() srv:cleanup() end)

    it("OP3: a copy taken under load is sound, holds every acknowledged order, and the tills"
        .. " waited no more than 200 ms for any answer meanwhile", function()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local before = {}
        for i = 1, 30 do
            before[#before + 1] = c:ok("order.create", e2e.carryout_order("pre-" .. i)).number
        end
        local copy = srv.dir .. "/copy.db"
        local rc = srv.dir .. "/backup.rc"
        e2e.sh_bg(e2e.q(e2e.bin) .. " backup --db " .. e2e.q(srv.db) .. " --to " .. e2e.q(copy),
            srv.dir .. "/backup.out", rc)
        local worst, during, i = 0, 0, 0
        local deadline = e2e.now() + 60
        while not e2e.read_file(rc) do
            i = i + 1
            local t0 = socket.gettime()
            c:ok("order.create", e2e.carryout_order("during-" .. i))
            local dt = socket.gettime() - t0
            during = during + 1
            if dt > worst then worst = dt end
            assert(e2e.now() < deadline, "the backup did not finish")
        end
        c:close()
        assert.are.equal("0", (e2e.read_file(rc):gsub("%s", "")), e2e.read_file(srv.dir .. "/backup.out"))
        assert.matches("integrity ok", e2e.read_file(srv.dir .. "/backup.out"))
        assert.is_true(during > 0, "no request ran while the backup did")
        -- generous for a shared CI machine; more under the sanitizers' slowdown
        local bound = os.getenv("CORDER_SANITIZED") == "1" and 0.5 or 0.2
        assert.is_true(worst < bound, ("a till waited %.0f ms during the backup"):format(worst * 1000))

        local function q(sql)
            local p = io.popen("sqlite3 " .. e2e.q(copy) .. " " .. e2e.q(sql) .. " 2>&1")
            local out = p:read("a")
            p:close()
            return out
        end
        assert.are.equal("ok\n", q("PRAGMA integrity_check"))
        local have = {}
        for n in q("SELECT number FROM orders"):gmatch("[^\n]+") do have[n] = true end
        for _, n in ipairs(before) do assert.is_true(have[n], n .. " is missing from the copy") end
        local p = io.popen("stat -c %a " .. e2e.q(copy))
        assert.are.equal("600", p:read("l"))
        p:close()

        -- The copy is a database corder serves.
        local restored = e2e.server({no_start = true})
        e2e.sh("cp " .. e2e.q(copy) .. " " .. e2e.q(restored.db) .. " && rm -f " .. e2e.q(restored.db)
            .. "-wal " .. e2e.q(restored.db) .. "-shm")
        restored:start()
        local r = restored:connect()
        r:login("S001", "1001", "1234")
        assert.are.equal(before[1], r:ok("order.get", {number = before[1]}).number)
        r:close()
        restored:cleanup()
    end)

    it("OP3: refuses a file that is not a corder database, leaving no copy behind", function()
        local bad = srv.dir .. "/plain.db"
        e2e.sh("sqlite3 " .. e2e.q(bad) .. " 'CREATE TABLE t(x)'")
        local code, _, err = e2e.run("backup --db " .. e2e.q(bad) .. " --to " .. e2e.q(srv.dir .. "/x.db"))
        assert.are.equal(1, code)
        assert.matches("schema version", err)
        local p = io.popen("ls " .. e2e.q(srv.dir) .. " | grep -c '^x.db' ")
        assert.are.equal("0", p:read("l"))
        p:close()
    end)

    it("bad usage exits 2", function()
        local code, _, err = e2e.run("backup --db " .. e2e.q(srv.db))
        assert.are.equal(2, code)
        assert.matches("usage: corder backup", err)
        assert.are.equal(2, (e2e.run("backup --db a --to b --what c")))
    end)
end)
