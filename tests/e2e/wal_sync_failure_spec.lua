-- wal_sync_failure_spec.lua: pipelined group commit when the disk fails
-- (issue 14; PROTOCOL "ok means durable"). With --commit-pipeline 1 (the
-- default) a batch's answers wait for the WAL sync that covers them, made
-- on a thread of its own. If that fdatasync fails, nobody can tell what
-- reached the disk: the write waiting for it must not be answered ok, and
-- the server must stop (exit non-zero) rather than acknowledge anything
-- after it. The failing disk is tests/lib/failsync.c, LD_PRELOADed: once
-- its trigger file exists, every sync of the -wal file fails with EIO.
local e2e = require "e2e"

-- A started server whose WAL syncs fail once the returned trigger file exists.
local function failing_disk_server(args)
    local srv = e2e.server({no_start = true, args = args})
    local trigger = srv.dir .. "/disk-fails"
    srv:preload("failsync", "CORDER_FAILSYNC=" .. e2e.q(trigger))
    srv:start()
    return srv, trigger
end

describe("a WAL sync that fails under pipelined commits", function()
    it("answers the write waiting for it internal, never ok, and stops the server", function()
        local srv, trigger = failing_disk_server("")
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local before = c:call("customer.create", {name = "Before the disk failed"})
        assert.is_true(before.ok, before.error and before.error.message)

        -- A write that begins once the checkpoint thread has copied every
        -- frame starts the WAL over, and SQLite syncs the new log's header
        -- inside that COMMIT, not on the sync thread: then the COMMIT itself
        -- fails, nothing of it is kept, and the server goes on (as with
        -- --commit-pipeline 0, below). Which of the two a write meets is the
        -- checkpoint thread's timing (it runs every 20 ms), so the spec
        -- checks that case too and tries again until a write's deferred
        -- sync is the one that fails.
        local during
        for attempt = 1, 20 do
            e2e.write_file(trigger, "")
            during = c:call("customer.create", {name = "While the disk failed"})
            assert.is_false(during.ok, "a write whose sync failed was answered ok")
            assert.are.equal("internal", during.error.code)
            if during.error.message:find("may not have been kept", 1, true) then break end
            assert.matches("not kept", during.error.message, 1, true)
            os.remove(trigger)
            local again = c:call("customer.create", {name = "Between tries " .. attempt})
            assert.is_true(again.ok, again.error and again.error.message)
        end
        assert.matches("may not have been kept", during.error.message, 1, true)

        assert.are_not.equal(0, srv:wait(30), "the server must exit non-zero")
        assert.matches("syncing the WAL failed", srv:stderr(), 1, true)
        os.remove(trigger)
        -- what was acknowledged before is there
        assert.are.equal("1", srv:sql(
            "SELECT count(*) FROM customers WHERE name = 'Before the disk failed'"):match("%d+"))
        c:close()
        srv:cleanup()
    end)

    it("keeps serving with --commit-pipeline 0, where the COMMIT itself fails", function()
        local srv, trigger = failing_disk_server("--commit-pipeline 0")
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        e2e.write_file(trigger, "")
        local during = c:call("customer.create", {name = "While the disk failed"})
        assert.is_false(during.ok, "a write whose COMMIT could not sync was answered ok")
        assert.are.equal("internal", during.error.code)
        assert.is_true(c:call("ping").ok, "the server went on serving")
        c:close()
        srv:cleanup()
    end)
end)
