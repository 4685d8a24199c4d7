-- counter_spec.lua: the counter from outside, over TCP, with a policy and
-- a seed of the test's own (issue 12's judge): a till previews and pays
-- exactly due_now (F11); a pickup by someone the order does not name needs
-- a manager's approval and the invoice names the collector (F9, A4); a
-- held order refuses a pickup and accepts it after release (F10); a wrong
-- reason code is refused while a configured one passes, and `corder init`
-- with a new seed changes the list (R4).
local e2e = require "e2e"

describe("the counter over TCP", function()
    local dir, srv, c
    setup(function()
        dir = e2e.tmpdir()
        local pdir = dir .. "/policies"
        e2e.sh("mkdir -p " .. e2e.q(pdir))
        -- 25 % deposit; clerks must say who collects
        e2e.write_file(pdir .. "/default.lua", [[
            return { parameters = { default_deposit_pct = 25, require_collector = true } }]])
        local seed = e2e.seed_variant(dir, "codes", function(s)
            s.reason_codes = {["return"] = {"DAMAGED"}, cancel = {"CHANGED_MIND"}, hold = {"FRAUD_CHECK"}}
        end)
        srv = e2e.server({seed = seed, policies = pdir})
        c = srv:connect()
        c:login("S001", "1001", "1234")
        srv.seed_dir = dir
    end)
    teardown(function()
        srv:cleanup()
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    local function order()
        return {customer = "C0001", lines = {
            {item = "P100", qty = 1, delivery = {mode = "pickup", store = "S001", date = e2e.date(10)}},
            {item = "P300", qty = 1, delivery = {mode = "carryout"}}}}
    end

    it("F11: preview, then pay exactly due_now", function()
        local p = c:ok("order.preview", order())
        assert.are.equal(12475 + 1999, p.due_now) -- 25 % of 49900, and the carry-out in full
        local args = order()
        args.payments = {{tender = "cash", amount = p.due_now}}
        local o = c:ok("order.create", args)
        assert.are.equal(p.due_now, o.paid)
        assert.are.equal(p.totals.order, o.totals.order)
    end)

    it("F9/A4: an unlisted collector needs a manager's approval; the invoice names them", function()
        local args = order()
        args.pickup_contacts = {{name = "Fleur de Wit"}}
        local o = c:call_paying("order.create", args).result
        local pick = {number = o.number, lines = {{line = 1, qty = 1}},
                      payments = {{tender = "card", amount = 49900 - 12475}}}
        local r = c:call("order.pickup", pick)
        assert.are.equal("validation", r.error.code)
        assert.are.equal("collected_by", r.error.details.field)
        pick.collected_by = {name = "Piet Puk", id_checked = true, id_ref = "ID-77"}
        r = c:call("order.pickup", pick)
        assert.are.equal("approval_required", r.error.code)
        assert.are.equal("pickup_by_other", r.error.details.permission)
        pick.approval = {staff = "1002", pin = "9999"}
        local done = c:ok("order.pickup", pick)
        assert.are.same({name = "Piet Puk", id_checked = true, id_ref = "ID-77"}, done.invoice.collected_by)
    end)

    it("F10: a held order refuses a pickup and accepts it after release", function()
        local o = c:call_paying("order.create", order()).result
        local hold = {number = o.number, code = "FRAUD_CHECK", approval = {staff = "1002", pin = "9999"}}
        assert.are.equal("FRAUD_CHECK", c:ok("order.hold", hold).hold.code)
        local pick = {number = o.number, lines = {{line = 1, qty = 1}}, collected_by = {name = "Karin Smit"},
                      payments = {{tender = "card", amount = 49900 - 12475}}}
        local r = c:call("order.pickup", pick)
        assert.are.equal("invalid_state", r.error.code)
        assert.are.equal("FRAUD_CHECK", r.error.details.hold)
        c:ok("order.release", {number = o.number, approval = {staff = "1002", pin = "9999"}})
        assert.is_table(c:ok("order.pickup", pick).invoice)
    end)

    it("R4: a wrong code is refused, the configured one passes; init with a new seed changes the list", function()
        local o = c:call_paying("order.create", order()).result
        local r = c:call("order.cancel", {number = o.number, reason = "NO_REASON"})
        assert.are.equal("validation", r.error.code)
        assert.are.equal("reason", r.error.details.field)
        local seed = e2e.seed_variant(dir, "codes2", function(s)
            s.reason_codes = {cancel = {"NO_REASON"}}
        end)
        assert.are.equal(0, (e2e.run("init --db " .. e2e.q(srv.db) .. " --seed " .. e2e.q(seed))))
        r = c:call_paying("order.cancel", {number = o.number, reason = "NO_REASON"})
        assert.is_true(r.ok, r.error and r.error.message)
        -- the other kinds were not given, so they stay as they were
        local o2 = c:call_paying("order.create", order()).result
        r = c:call("order.hold", {number = o2.number, code = "OTHER", approval = {staff = "1002", pin = "9999"}})
        assert.are.equal("validation", r.error.code)
    end)
end)
