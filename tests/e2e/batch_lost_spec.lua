-- batch_lost_spec.lua: a full disk under a group commit (PROTOCOL "ok
-- means durable"). SQLITE_FULL rolls back the failing statement, or the
-- whole open transaction with every request that ran before in the same
-- batch (at COMMIT, or inside a request: server.c's batch_check_lost).
-- Whichever it is, no answer may say ok for a change that was not kept,
-- nothing of a failed request is kept, and the server goes on. The full
-- disk is simulated with a page cap (CORDER_DB_MAX_PAGES).
local e2e = require "e2e"

describe("a batch rolled back by SQLite", function()
    it("answers no request of the batch ok, keeps none of it, and goes on serving", function()
        local srv = e2e.server({no_start = true})
        -- room for 3 more pages: the file's free pages count (a new store
        -- has one, the index schema 14 dropped)
        local pages = tonumber(srv:sql("PRAGMA page_count"):match("%d+"))
        local free = tonumber(srv:sql("PRAGMA freelist_count"):match("%d+"))
        local serve = srv.serve_command
        srv.serve_command = function(self)
            return "CORDER_DB_MAX_PAGES=" .. (pages + math.max(0, 3 - free)) .. " " .. serve(self)
        end
        srv:start()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        -- a small write, then one too big for the disk, in one write: one batch
        local lines = {}
        for i = 1, 100 do lines[i] = {item = "P300", qty = 1, delivery = {mode = "carryout"}} end
        local big = {customer = "C0001", lines = lines,
            payments = {{tender = "cash", amount = 100 * 1999}}}
        c:send_raw(c:request("customer.create", {name = "Before the full disk"}, "small")
            .. c:request("order.create", big, "big"))
        local small_r, big_r = assert(c:recv()), assert(c:recv())
        assert.are.equal("small", small_r.id)
        assert.are.equal("big", big_r.id)
        assert.is_false(big_r.ok)
        -- Where SQLite hit the cap decides what it rolled back: the big
        -- request's statement alone (its savepoint; the small one, if in
        -- the same batch, is kept), or the whole transaction, at a
        -- statement or at COMMIT (then the small one must not be ok).
        -- Either way an ok answer is kept and a failed one left nothing.
        local kept = srv:sql("SELECT count(*) FROM customers WHERE name = 'Before the full disk'")
            :match("%d+")
        if small_r.ok then
            assert.are.equal("1", kept, "an ok answer whose change was rolled back")
        else
            assert.are.equal("internal", small_r.error.code)
            assert.are.equal("0", kept)
        end
        assert.are.equal("0", srv:sql("SELECT count(*) FROM orders"):match("%d+"))
        -- and the server goes on
        assert.is_true(c:call("ping").ok)
        local again = c:call("customer.create", {name = "After"})
        assert.is_true(again.ok, again.error and again.error.message)
        c:close()
        srv:cleanup()
    end)
end)
