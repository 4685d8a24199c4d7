-- stores_spec.lua: SPEC A5 over TCP against the real server: the attack a
-- reviewer ran (a cashier who may only sign in at S002 read, edited and
-- cancelled an S001 order, under S002's policy), and what must hold now.
-- S001 and S002 have policies of their own with different cancellation
-- charges, so the money decision shows whose policy made it.
local e2e = require "e2e"

local CENTRUM = [[
return { parameters = { default_deposit_pct = 10, cancellation_charge_pct = 5 } }
]]
local ZUID = [[
return { parameters = { default_deposit_pct = 30, cancellation_charge_pct = 20 } }
]]

describe("orders of another store over TCP (A5)", function()
    local dir, srv, ann, cas, v001, v002

    local function is_err(r, code, what)
        assert.is_false(r.ok, what)
        assert.are.equal(code, r.error.code, what)
        return r.error
    end

    setup(function()
        dir = e2e.tmpdir()
        local pdir = dir .. "/policies"
        e2e.sh("cp -r " .. e2e.q(e2e.root .. "/policies") .. " " .. e2e.q(pdir))
        e2e.write_file(pdir .. "/centrum.lua", CENTRUM)
        e2e.write_file(pdir .. "/zuid.lua", ZUID)
        local seed = e2e.seed_variant(dir, "seed", function(t)
            for _, s in ipairs(t.stores) do
                if s.id == "S001" then s.policy = "centrum" end
                if s.id == "S002" then s.policy = "zuid" end
            end
            -- a manager who may work at S001 only
            t.staff[#t.staff + 1] = {id = "1005", name = "Eva", pin = "5005", role = "manager",
                                     stores = {"S001"}}
        end)
        srv = e2e.server({seed = seed, policies = pdir})
        ann = srv:connect()
        ann:login("S001", "1001", "1234")
        cas = srv:connect()
        local who = cas:login("S002", "1003", "5555") -- Cas may sign in at S002 only
        assert.are.equal("cashier", who.role)
        is_err(srv:connect():call("session.login", {store = "S001", staff = "1003", pin = "5555"}),
            "forbidden")
        v001 = ann:ok("policy.info", {store = "S001"}).version
        v002 = ann:ok("policy.info", {store = "S002"}).version
    end)

    teardown(function()
        if srv then srv:cleanup() end
        if dir then e2e.sh("rm -rf " .. e2e.q(dir)) end
    end)

    -- An S001 order: 1 ship, 2 pickup at S001, 3 pickup at S002, 4 carried out.
    local function make()
        local r = ann:call_paying("order.create", {customer = "C0001", type = "order", lines = {
            {item = "P100", qty = 1, delivery = {mode = "ship", address = "home", date = e2e.date(20)}},
            {item = "P200", qty = 2, delivery = {mode = "pickup", store = "S001", date = e2e.date(10)}},
            {item = "P300", qty = 1, delivery = {mode = "pickup", store = "S002", date = e2e.date(10)}},
            {item = "P300", qty = 1, delivery = {mode = "carryout"}}}})
        assert.is_true(r.ok)
        return r.result
    end

    local function state(number)
        local o = ann:ok("order.get", {number = number})
        local h = ann:ok("order.history", {number = number})
        return o, h.events
    end

    it("A5 attack: S002's cashier reads an S001 order but may not change it", function()
        local o = make()
        local q = ann:ok("order.create", {customer = "C0001", type = "quote", lines = {
            {item = "P200", qty = 1, delivery = {mode = "pickup", store = "S001", date = e2e.date(10)}}}})
        -- reads: ok
        assert.are.equal("S001", cas:ok("order.get", {number = o.number}).store)
        assert.is_true(#cas:ok("order.find", {store = "S001"}).orders >= 1)
        assert.are.equal(1, #cas:ok("order.history", {number = o.number}).events)
        -- every change: approval_required, nothing changed
        local before, events = state(o.number)
        for _, c in ipairs{
            {"order.edit", {number = o.number, version = o.version, update_lines = {{line = 2, qty = 1}}}},
            {"order.cancel", {number = o.number}},
            {"order.ship", {number = o.number, lines = {{line = 1, qty = 1}}}},
            {"order.return", {number = o.number, invoice = 1, lines = {{line = 4, qty = 1, reason = "x"}}}},
            {"order.confirm_quote", {number = q.number}},
        } do
            local e = is_err(cas:call(c[1], c[2]), "approval_required", c[1])
            assert.are.equal("other_store_orders", e.details.permission, c[1])
        end
        local after, events2 = state(o.number)
        assert.are.same(before, after)   -- same version, same document
        assert.are.equal(#events, #events2)
        assert.are.equal("quote", ann:ok("order.get", {number = q.number}).type)
    end)

    it("A5: an approver not allowed at S002 is forbidden, a wrong PIN unauthenticated", function()
        local o = make()
        local before = state(o.number)
        is_err(cas:call("order.cancel", {number = o.number, approval = {staff = "1005", pin = "5005"}}),
            "forbidden")
        is_err(cas:call("order.edit", {number = o.number, version = o.version,
            update_lines = {{line = 2, qty = 1}}, approval = {staff = "1005", pin = "5005"}}), "forbidden")
        is_err(cas:call("order.cancel", {number = o.number, approval = {staff = "1002", pin = "0000"}}),
            "unauthenticated")
        assert.are.same(before, (state(o.number)))
    end)

    it("A5/A2: with the approval of a manager allowed at S002, logged; money by S001's policy, permits by S002's", function()
        local o = make()
        local r = cas:call_paying("order.edit", {number = o.number, version = o.version,
            update_lines = {{line = 2, qty = 1}}, approval = {staff = "1002", pin = "9999"}})
        assert.is_true(r.ok)
        -- deposit: S001's 10 % of 49900 + 12900 + 1999 = 64799 -> 6480 (S002's 30 % would be 19440)
        assert.are.equal(6480, r.result.deposit.required)
        r = cas:call_paying("order.cancel", {number = o.number, approval = {staff = "1002", pin = "9999"}})
        assert.is_true(r.ok)
        -- open: 49900 + 12900 + 1999 = 64799; S001's 5 % = 3240 (S002's 20 % would be 12960)
        assert.are.equal(3240, r.result.cancellation.charge)
        assert.are.equal(v001, r.result.order.policy_version)
        local _, events = state(o.number)
        local ev = events[#events]
        assert.are.equal("order.cancel", ev.op)
        assert.are.equal("1003", ev.staff)
        assert.are.equal("S002", ev.store)
        assert.are.equal(v001, ev.policy_version)
        assert.are.same({{permission = "other_store_orders", approver = "1002"}}, ev.result.approvals)
        local hooks = {}
        for _, d in ipairs(ev.decisions) do
            hooks[d.hook] = hooks[d.hook] or {}
            table.insert(hooks[d.hook], d)
        end
        assert.are.equal("S001", hooks.cancellation_charge[1].store)
        assert.are.equal(v001, hooks.cancellation_charge[1].policy_version)
        for _, d in ipairs(hooks.permits) do
            assert.are.equal("S002", d.store)
            assert.are.equal(v002, d.policy_version)
        end
        -- replay: S001's policy answered the cancellation charge, S002's did not
        local p = dir .. "/centrum_50.lua"
        e2e.write_file(p, "return { parameters = { default_deposit_pct = 10, cancellation_charge_pct = 50 } }\n")
        local code, out = e2e.run("policy replay --db " .. e2e.q(srv.db) .. " --policy " .. e2e.q(p)
            .. " --store S001")
        assert.are.equal(0, code)
        local number = o.number:gsub("%-", "%%-")
        assert.is_truthy(out:find(number .. "%s+order%.cancel%s+cancellation_charge%s+old=3240 new=32400"),
            out)
        p = dir .. "/zuid_50.lua"
        e2e.write_file(p, "return { parameters = { default_deposit_pct = 30, cancellation_charge_pct = 50 } }\n")
        code, out = e2e.run("policy replay --db " .. e2e.q(srv.db) .. " --policy " .. e2e.q(p)
            .. " --store S002")
        assert.are.equal(0, code)
        assert.is_nil(out:find("cancellation_charge", 1, true), out)
    end)

    it("A5/F4: S002 picks up the S001 order's S002 line without any permission", function()
        local o = make()
        local r = cas:call_paying("order.pickup", {number = o.number, lines = {{line = 3, qty = 1}}})
        assert.is_true(r.ok, r.error and r.error.message)
        assert.are.equal("invoiced", r.result.order.lines[3].status)
        is_err(cas:call("order.pickup", {number = o.number, lines = {{line = 2, qty = 1}}}), "validation")
    end)
end)
