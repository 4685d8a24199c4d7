-- tax_replay_spec.lua: `corder policy replay` re-asks the tax questions
-- the transaction log recorded (T1, F8): one per line and per charge, with
-- the item and, from a tax hook, the order; a new rate shows every tax it
-- would change, by a new hook or by the built-in rule with new parameters.
local corder = require "corder"
local e2e = require "e2e"

describe("corder policy replay and tax", function()
    local dir, db, conn, number
    setup(function()
        dir = e2e.tmpdir()
        db = dir .. "/t.db"
        local pdir = dir .. "/policies"
        e2e.sh("mkdir -p " .. e2e.q(pdir))
        e2e.write_file(pdir .. "/default.lua", [[
            return { tax = function(item, order, ctx) return corder.pct(item.amount, 21) end }]])
        assert(e2e.run("init --db " .. e2e.q(db) .. " --seed " .. e2e.q(e2e.seed)) == 0)
        conn = assert(corder.open{db = db, policies = pdir})
        local ann = assert(conn:login("S001", "1001", "1234"))
        local args = {customer = "C0001", lines = {
            {item = "P100", qty = 1, delivery = {mode = "pickup", store = "S001", date = e2e.date(5)}},
            {item = "P300", qty = 1, delivery = {mode = "carryout"}}}}
        local p = assert(ann:call("order.preview", args))
        args.payments = {{tender = "cash", amount = p.due_now}}
        number = assert(ann:call("order.create", args)).number
    end)
    teardown(function()
        if conn then conn:close() end
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    local function replay(src)
        local path = dir .. "/new.lua"
        e2e.write_file(path, src)
        return e2e.run("policy replay --db " .. e2e.q(db) .. " --policy " .. e2e.q(path))
    end

    it("asks a new tax hook the logged questions: each line's tax that would change", function()
        local code, out, err = replay("return { tax = function(item) return corder.pct(item.amount, 9) end }")
        assert.are.equal(0, code, err)
        local n = number:gsub("%-", "%%-") -- a number as a Lua pattern
        assert.matches(n .. "%s+order.create%s+tax%s+old=10479 new=4491", out)
        assert.matches(n .. "%s+order.create%s+tax%s+old=420 new=180", out)
    end)

    it("answers with the built-in rule and the new parameters when the new policy has no hook", function()
        local code, out, err = replay("return { parameters = { tax_pct = 9, prices_include_tax = true } }")
        assert.are.equal(0, code, err)
        assert.matches("tax%s+old=10479 new=4120", out) -- 49900 × 9 / 109
    end)

    it("corder policy check runs tax on its samples, and names file and line of a bad answer", function()
        local code, out = e2e.run("policy check " .. e2e.q(e2e.root .. "/policies/furniture.lua"))
        assert.are.equal(0, code)
        assert.matches("tax%s+8660 %(on a line shipped home%)", out) -- 49900 × 21 / 121
        assert.matches("tax%s+781 %(on a shipping charge%)", out)
        local bad = dir .. "/bad.lua"
        e2e.write_file(bad, "return {\n  tax = function(item) return item.amount / 3 end,\n}\n")
        local err
        code, out, err = e2e.run("policy check " .. e2e.q(bad))
        assert.are.equal(1, code)
        assert.matches("bad%.lua:2: tax returned a float", err)
    end)
end)
