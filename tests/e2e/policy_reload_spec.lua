-- policy_reload_spec.lua: policies as a product, against the real server
-- (SPEC L2, L3; PROTOCOL.md policy.info, policy.reload): an edited file is
-- in force within 1 s, a broken one leaves the old version and says why,
-- policy.reload needs its permission, a runaway policy fails only its own
-- request, and rewriting the file under load fails no request.
--
-- The server runs on a temp copy of policies/ (the specs edit default.lua
-- there, never the repo's), with a seed where S002 uses its own policy
-- "steady" (a copy of default.lua), so a fault in S001's policy can be seen
-- not to touch another store.
local cjson = require "cjson"
local e2e = require "e2e"

local FIX = e2e.root .. "/tests/policies/fixtures/"

-- Pickup only: a deposit of default_deposit_pct of 12900 * qty, no shipping.
-- Paying the whole total is valid whatever the deposit, so previews never
-- depend on which version answers.
local function pickup_order(qty)
    return {customer = "C0001", type = "order",
        lines = {{item = "P200", qty = qty, delivery = {mode = "pickup", store = "S001", date = e2e.date(3)}}},
        payments = {{tender = "cash", amount = 12900 * qty}}}
end

local function is_err(r, code)
    assert.is_false(r.ok, "expected " .. code .. ", got " .. cjson.encode(r))
    assert.are.equal(code, r.error.code, cjson.encode(r.error))
    return r.error
end

describe("policy hot reload", function()
    local srv, dir, pdir, file, cashier, manager, other

    local function write_policy(src) e2e.write_file(file, src) end

    local function params_source(generation, pct)
        return string.format("return { parameters = { default_deposit_pct = %d, generation = %d } }\n",
            pct, generation)
    end

    local function info(c, store)
        return (c or manager):ok("policy.info", store and {store = store} or nil)
    end

    -- Waits until policy.info satisfies pred; returns the info and the
    -- seconds it took.
    local function wait_info(pred, timeout, what)
        local t0 = e2e.now()
        local i = e2e.wait_for(function()
            local x = info()
            return pred(x) and x
        end, timeout, what)
        return i, e2e.now() - t0
    end

    setup(function()
        dir = e2e.tmpdir()
        pdir = dir .. "/policies"
        file = pdir .. "/default.lua"
        e2e.sh("cp -r " .. e2e.q(e2e.root .. "/policies") .. " " .. e2e.q(pdir))
        e2e.sh("cp " .. e2e.q(pdir .. "/default.lua") .. " " .. e2e.q(pdir .. "/steady.lua"))
        local seed = cjson.decode(e2e.read_file(e2e.seed))
        for _, s in ipairs(seed.stores) do
            if s.id == "S002" then s.policy = "steady" end
        end
        e2e.write_file(dir .. "/seed.json", cjson.encode(seed))
        srv = e2e.server({seed = dir .. "/seed.json", policies = pdir})
        cashier = srv:connect()
        cashier:login("S001", "1001", "1234")
        manager = srv:connect()
        manager:login("S001", "1002", "9999")
        other = srv:connect()
        other:login("S002", "1001", "1234")
    end)

    teardown(function()
        if srv then srv:cleanup() end
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    it("policy.info shows the version in force", function()
        local i = info()
        assert.are.equal("default", i.name)
        assert.are.equal(file, i.file)
        assert.is_truthy(i.version:match("^%x+$") and #i.version == 64, i.version)
        assert.is_string(i.loaded_at)
        assert.are.equal(10, i.parameters.default_deposit_pct)
        assert.is_nil(i.last_error)
        assert.are.equal("steady", info(other).name)
        assert.are.equal("steady", info(manager, "S002").name)
    end)

    it("puts an edited file in force within 1 s, for the stores that use it", function()
        local before = info()
        write_policy(params_source(1, 20))
        local i, took = wait_info(function(x) return x.parameters.generation == 1 end, 1.0,
            "the edited policy")
        assert.is_true(took < 1.0, "took " .. took)
        assert.are_not.equal(before.version, i.version)
        assert.are.equal(20, i.parameters.default_deposit_pct)
        local o = cashier:ok("order.preview", pickup_order(2))
        assert.are.equal(5160, o.deposit.required) -- 20 % of 25800
        assert.are.equal(i.version, o.policy_version)
        -- S002's policy is another file: unchanged.
        local o2 = other:ok("order.preview", pickup_order(2))
        assert.are.equal(2580, o2.deposit.required)
    end)

    it("keeps the old version when the file breaks, and says why with file:line", function()
        local before = info()
        write_policy("return {\n  parameters = { generation = 2 },\n  deposit = function( end,\n}\n")
        local i, took = wait_info(function(x) return x.last_error end, 1.0, "last_error")
        assert.is_true(took < 1.0, "took " .. took)
        assert.are.equal(before.version, i.version)
        assert.are.equal(1, i.parameters.generation)
        assert.is_truthy(i.last_error:find(file .. ":3:", 1, true), i.last_error)
        -- Requests go on with the old version.
        local o = cashier:ok("order.preview", pickup_order(2))
        assert.are.equal(5160, o.deposit.required)
        assert.are.equal(before.version, o.policy_version)
        -- Fixing the file clears the error.
        write_policy(params_source(3, 10))
        i = wait_info(function(x) return x.parameters.generation == 3 end, 1.0, "the fixed policy")
        assert.is_nil(i.last_error)
    end)

    it("policy.reload needs the policy_reload permission", function()
        local e = is_err(cashier:call("policy.reload", {}), "approval_required")
        assert.are.equal("policy_reload", e.details.permission)
        is_err(cashier:call("policy.reload", {approval = {staff = "1002", pin = "0000"}}), "unauthenticated")
        is_err(cashier:call("policy.reload", {approval = {staff = "1003", pin = "5555"}}), "forbidden")
        local r = cashier:ok("policy.reload", {approval = {staff = "1002", pin = "9999"}})
        assert.are.equal("default", r.name)
        r = manager:ok("policy.reload", {})
        assert.are.equal(3, r.parameters.generation)
        r = manager:ok("policy.reload", {store = "S002"})
        assert.are.equal("steady", r.name)
    end)

    it("policy.reload puts a change in force at once, and refuses a broken file", function()
        write_policy(params_source(4, 10))
        local r = manager:ok("policy.reload", {})
        assert.are.equal(4, r.parameters.generation)
        write_policy("return { parameters = { default_deposit_pct = 'lots' } }\n")
        local e = is_err(manager:call("policy.reload", {}), "policy_error")
        assert.is_truthy(e.message:find("default.lua", 1, true), e.message)
        local i = info()
        assert.are.equal(r.version, i.version)
        assert.are.equal(4, i.parameters.generation)
        assert.is_string(i.last_error)
        write_policy(params_source(5, 10))
        assert.are.equal(5, manager:ok("policy.reload", {}).parameters.generation)
    end)

    describe("a runaway policy", function()
        setup(function()
            write_policy(e2e.read_file(FIX .. "hostile.lua"))
            wait_info(function(x) return x.parameters.hostile == true end, 2, "hostile.lua in force")
        end)

        it("that never returns fails that one request; ping and other stores go on", function()
            -- The looping request and a ping from another client, at once.
            local id = cashier:send("order.preview", pickup_order(7))
            local pinger = srv:connect()
            local t0 = e2e.now()
            assert.is_true(pinger:ok("ping").pong)
            assert.is_true(e2e.now() - t0 < 2)
            local r = assert(cashier:recv())
            assert.are.equal(id, r.id)
            local e = is_err(r, "policy_error")
            assert.is_truthy(e.message:find(file .. ":10:", 1, true), e.message)
            assert.is_truthy(e.message:find("budget", 1, true), e.message)
            -- The same order at S002 (another policy) and a normal one at S001.
            assert.are.equal(9030, other:ok("order.preview", pickup_order(7)).deposit.required)
            assert.are.equal(2580, cashier:ok("order.preview", pickup_order(2)).deposit.required)
        end)

        it("that eats memory fails that one request; the server goes on", function()
            local e = is_err(cashier:call("order.preview", pickup_order(8)), "policy_error")
            assert.is_truthy(e.message:find(file, 1, true), e.message)
            assert.is_truthy(e.message:find("%.lua:%d+: memory limit"), e.message)
            assert.is_true(srv:connect():ok("ping").pong)
            assert.are.equal(10320, other:ok("order.preview", pickup_order(8)).deposit.required)
            assert.are.equal(2580, cashier:ok("order.preview", pickup_order(2)).deposit.required)
            -- Again, to see the policy's state was recovered, not just lucky.
            is_err(cashier:call("order.preview", pickup_order(8)), "policy_error")
            is_err(cashier:call("order.preview", pickup_order(7)), "policy_error")
            assert.are.equal(3870, cashier:ok("order.preview", pickup_order(3)).deposit.required)
            assert.is_nil(srv:stderr():find("AddressSanitizer", 1, true))
        end)
    end)

    it("fails no request while the file is rewritten 20 times under load", function()
        write_policy(params_source(100, 10))
        wait_info(function(x) return x.parameters.generation == 100 end, 2, "generation 100")
        -- Another process rewrites the file in place (truncate, write), 20
        -- times, 0.1 s apart; deposit_pct 11..30, generation 101..120.
        local done = dir .. "/writer.done"
        e2e.sh("(for i in $(seq 1 20); do printf 'return { parameters = { default_deposit_pct = %d,"
            .. " generation = %d } }\\n' $((10 + i)) $((100 + i)) >" .. e2e.q(file)
            .. "; sleep 0.1; done; touch " .. e2e.q(done) .. ") >/dev/null 2>&1 &")
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local sent, failed, versions, nversions = 0, {}, {}, 0
        local function check(r, what)
            sent = sent + 1
            if not r.ok then failed[#failed + 1] = what .. ": " .. cjson.encode(r.error) end
        end
        local deadline = e2e.now() + 20
        while not e2e.read_file(done) and e2e.now() < deadline do
            local r = c:call("order.preview", pickup_order(1))
            check(r, "order.preview")
            if r.ok then
                -- Whichever version answered, the deposit is whole percent of 12900.
                assert.are.equal(0, r.result.deposit.required % 129, cjson.encode(r.result.deposit))
                if not versions[r.result.policy_version] then
                    versions[r.result.policy_version] = true
                    nversions = nversions + 1
                end
            end
            check(c:call("ping"), "ping")
        end
        assert.is_truthy(e2e.read_file(done), "the writer did not finish")
        local i, took = wait_info(function(x) return x.parameters.generation == 120 end, 1.0,
            "the last rewrite")
        assert.is_true(took < 1.0)
        assert.is_nil(i.last_error)
        assert.are.same({}, failed)
        assert.is_true(sent >= 40, "only " .. sent .. " requests")
        assert.is_true(nversions >= 3, "saw " .. nversions .. " versions")
        local o = c:ok("order.preview", pickup_order(1))
        assert.are.equal(3870, o.deposit.required) -- 30 % of 12900
        assert.are.equal(i.version, o.policy_version)
    end)
end)
