-- policy_replay_spec.lua: `corder policy replay` (issue 4, SPEC L3/F8): the
-- real binary re-asks a new policy the questions that the transaction log
-- recorded, and prints the answers that would change.
--
-- Orders are made through the corder Lua module on a database created with
-- `corder init`; the replay then runs on that same, still open, database.
local corder = require "corder"
local cjson = require "cjson"
local e2e = require "e2e"

local FIX = e2e.root .. "/tests/policies/fixtures/"

local function lines_of(s)
    local t = {}
    for l in (s or ""):gmatch("[^\n]+") do t[#t + 1] = l end
    return t
end

-- The change lines (neither the "#" header nor the summary).
local function changes(out)
    local t = {}
    for _, l in ipairs(lines_of(out)) do
        if not l:match("^#") and not l:match("^replayed ") then t[#t + 1] = l end
    end
    return t
end

local function summary(out)
    local t = lines_of(out)
    return t[#t] or ""
end

describe("corder policy replay", function()
    local dir, db, policies, conn
    local orders = {} -- number -> {store, deposit}
    local ndecisions = 0

    local function replay(args)
        return e2e.run("policy replay --db " .. e2e.q(db) .. " " .. args)
    end

    local function write_policy(name, src)
        local path = dir .. "/" .. name
        e2e.write_file(path, src)
        return path
    end

    -- Creates an order, paying what is due; remembers its required deposit.
    local function create(session, store, order)
        local r, err = session:call("order.create", order)
        if not r and err.code == "payment_mismatch" then
            order.payments = {{tender = "cash", amount = err.details.due}}
            r, err = session:call("order.create", order)
        end
        assert(r, "order.create: " .. cjson.encode(err))
        orders[r.number] = {store = store, deposit = r.deposit.required}
        return r
    end

    local function count_decisions()
        local n = 0
        for _, row in ipairs(conn:query("SELECT decisions FROM txlog")) do
            n = n + #cjson.decode(row[1])
        end
        return n
    end

    setup(function()
        dir = e2e.tmpdir()
        db = dir .. "/t.db"
        policies = dir .. "/policies"
        e2e.sh("cp -r " .. e2e.q(e2e.root .. "/policies") .. " " .. e2e.q(policies))
        local code, _, err = e2e.run("init --db " .. e2e.q(db) .. " --seed " .. e2e.q(e2e.seed))
        assert(code == 0, err)
        conn = assert(corder.open{db = db, policies = policies})
        local ann1 = assert(conn:login("S001", "1001", "1234"))
        local bob1 = assert(conn:login("S001", "1002", "9999"))
        local ann2 = assert(conn:login("S002", "1001", "1234"))
        -- S001: a hybrid order (deposit base 49900 + 2 * 12900), shipped by
        -- a manager (a permits question), and a pickup-only order.
        local o = create(ann1, "S001", e2e.hybrid_order())
        local shipped, err = bob1:call("order.ship", {number = o.number, lines = {{line = 1, qty = 1}},
            payments = {{tender = "cash", amount = 49900}}})
        if not shipped and err.code == "payment_mismatch" then
            shipped, err = bob1:call("order.ship", {number = o.number, lines = {{line = 1, qty = 1}},
                payments = err.details.due > 0 and {{tender = "cash", amount = err.details.due}} or nil})
        end
        assert(shipped, "order.ship: " .. cjson.encode(err))
        create(ann1, "S001", {customer = "C0001", type = "order", lines = {
            {item = "P200", qty = 3, delivery = {mode = "pickup", store = "S001", date = e2e.date(5)}}}})
        -- S002: one ship order.
        create(ann2, "S002", {customer = "C0001", type = "order", lines = {
            {item = "P100", qty = 2, delivery = {mode = "ship", address = "home", date = e2e.date(9)}}}})
        ndecisions = count_decisions()
    end)

    teardown(function()
        if conn then conn:close() end
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    it("finds nothing to change when replayed with the policy that decided", function()
        local code, out, err = replay("--policy " .. e2e.q(policies .. "/default.lua"))
        assert.are.equal(0, code, err)
        assert.are.same({}, changes(out))
        assert.are.equal(string.format("replayed %d decisions on 3 orders: 0 would change", ndecisions),
            summary(out))
    end)

    it("says in its header that it is not a re-run of the flows", function()
        local _, out = replay("--policy " .. e2e.q(policies .. "/default.lua"))
        assert.is_truthy(out:match("^# replay of [^\n]*default%.lua %(version %x+%)"), out)
        assert.is_truthy(out:find("not a re-run of the flows", 1, true), out)
    end)

    it("shows each deposit a new default_deposit_pct would change, with the default rule", function()
        -- No deposit hook: the engine's default rule with the NEW parameters.
        local p = write_policy("deposit30.lua", "return { parameters = { default_deposit_pct = 30 } }\n")
        local code, out, err = replay("--policy " .. e2e.q(p))
        assert.are.equal(0, code, err)
        local seen = {}
        for _, l in ipairs(changes(out)) do
            local number, op, hook, old, new = l:match("^(%S+)%s+(%S+)%s+(%S+)%s+old=(%S+) new=(%S+)$")
            assert.is_truthy(number, "unexpected line: " .. l)
            assert.are.equal("deposit", hook)
            assert.are.equal("order.create", op) -- pickups and ships ask no deposit
            assert.are.equal(orders[number].deposit, tonumber(old))
            assert.are.equal(orders[number].deposit * 3, tonumber(new)) -- bases are whole euros
            seen[number] = true
        end
        for number in pairs(orders) do assert.is_true(seen[number], number .. " missing:\n" .. out) end
        assert.are.equal(string.format(
            "replayed %d decisions on 3 orders: 3 would change (deposit: 3)", ndecisions), summary(out))
    end)

    it("asks a new policy's own hooks, with its parameters in ctx", function()
        local p = write_policy("flat.lua", [[
local policy = { parameters = { default_deposit_pct = 10, flat_deposit = 5000 } }
function policy.deposit(order, ctx)
  assert(ctx.store == order.store and ctx.today:match("^%d%d%d%d%-%d%d%-%d%d$"))
  assert(ctx.now:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"))
  return ctx.params.flat_deposit
end
return policy
]])
        local code, out, err = replay("--policy " .. e2e.q(p))
        assert.are.equal(0, code, err)
        for _, l in ipairs(changes(out)) do
            assert.is_truthy(l:match("%s+deposit%s+old=%d+ new=5000$"), l)
        end
        assert.are.equal(3, #changes(out))
    end)

    it("shows a permission the new policy would refuse", function()
        local p = write_policy("noship.lua", [[
return { permits = function(staff, permission, ctx)
  return staff.role == "manager" and permission ~= "ship"
end }
]])
        local code, out, err = replay("--policy " .. e2e.q(p))
        assert.are.equal(0, code, err)
        local c = changes(out)
        assert.are.equal(1, #c, out)
        assert.is_truthy(c[1]:match("^S001%-%S+%s+order%.ship%s+permits%(ship%)%s+old=true new=false$"), c[1])
        assert.is_truthy(summary(out):match(": 1 would change %(permits: 1%)$"), summary(out))
    end)

    it("filters by --store and --since", function()
        local p = write_policy("deposit20.lua", "return { parameters = { default_deposit_pct = 20 } }\n")
        local code, out, err = replay("--policy " .. e2e.q(p) .. " --store S002")
        assert.are.equal(0, code, err)
        local c = changes(out)
        assert.are.equal(1, #c, out)
        assert.is_truthy(c[1]:match("^S002%-"), c[1])
        assert.is_truthy(summary(out):match(" on 1 order: 1 would change %(deposit: 1%)$"), summary(out))

        code, out = replay("--policy " .. e2e.q(p) .. " --since " .. e2e.date(2))
        assert.are.equal(0, code)
        assert.are.equal("replayed 0 decisions on 0 orders: 0 would change", summary(out))

        code, out = replay("--policy " .. e2e.q(p) .. " --store S001 --since " .. e2e.date(-1))
        assert.are.equal(0, code)
        assert.are.equal(2, #changes(out), out)
    end)

    it("reports a hook that fails as new=error with file and line, and exits 0", function()
        local code, out, err = replay("--policy " .. e2e.q(FIX .. "runaway.lua"))
        assert.are.equal(0, code, err)
        -- runaway.lua's deposit loops at line 5, its shipping_charge at line 8.
        local c = changes(out)
        assert.are.equal(5, #c, out)
        for _, l in ipairs(c) do
            assert.is_truthy(l:match("deposit%s+old=%d+ new=error  .*runaway%.lua:5: instruction budget")
                or l:match("shipping_charge%s+old=0 new=error  .*runaway%.lua:8: instruction budget"), l)
        end
        assert.is_truthy(summary(out):match(
            ": 5 would change %(deposit: 3, shipping_charge: 2%), 5 of them policy_error$"), summary(out))
    end)

    it("exits 1 with file:line when the new policy does not load", function()
        local code, out, err = replay("--policy " .. e2e.q(FIX .. "syntax_error.lua"))
        assert.are.equal(1, code)
        assert.are.equal("", out)
        assert.is_truthy(err:match("^[^\n]*syntax_error%.lua:5: [^\n]+\n$"), err)
    end)

    it("exits 1 when the database cannot be read", function()
        local p = write_policy("deposit30.lua", "return { parameters = { default_deposit_pct = 30 } }\n")
        local code, out, err = e2e.run("policy replay --db " .. e2e.q(dir .. "/none.db") .. " --policy " .. e2e.q(p))
        assert.are.equal(1, code)
        assert.are.equal("", out)
        assert.is_truthy(err:match("^corder: [^\n]+\n$"), err)
        assert.is_nil(e2e.read_file(dir .. "/none.db")) -- read-only: nothing created
    end)

    it("exits 2 on bad usage", function()
        for _, args in ipairs({"", "--db " .. e2e.q(db), "--policy x.lua", "--db x.db --policy x.lua --bogus 1",
                               "--db x.db --policy x.lua --since yesterday", "--db x.db --policy"}) do
            local code, out, err = e2e.run("policy replay " .. args)
            assert.are.equal(2, code, args)
            assert.are.equal("", out)
            assert.is_truthy(err:match("^corder: [^\n]+\n$"), err)
        end
    end)

    it("changes nothing in the database, and sees orders made after it was opened", function()
        local before = conn:query("SELECT count(*), max(seq) FROM txlog")[1]
        local p = write_policy("deposit30.lua", "return { parameters = { default_deposit_pct = 30 } }\n")
        replay("--policy " .. e2e.q(p))
        local after = conn:query("SELECT count(*), max(seq) FROM txlog")[1]
        assert.are.same(before, after)
        local ann1 = assert(conn:login("S001", "1001", "1234"))
        create(ann1, "S001", {customer = "C0001", type = "order", lines = {
            {item = "P100", qty = 1, delivery = {mode = "pickup", store = "S001", date = e2e.date(4)}}}})
        local code, out = replay("--policy " .. e2e.q(p))
        assert.are.equal(0, code)
        assert.is_truthy(summary(out):match(" on 4 orders: 4 would change %(deposit: 4%)$"), summary(out))
    end)
end)
