-- chain_claim_spec.lua: SPEC C5 with real processes: one HQ and two store
-- servers, S001's (A) and S002's (B), each with its own database and its
-- own HQ token (C2). An order made at A with a line to pick up at B: B
-- shows HQ's read-only copy, claims it through HQ on the pickup, and owns
-- it from then on; A shows it read-only with its later states and refuses
-- changes (invalid_state, details.owner); both stores and HQ agree to the
-- cent. A claim is refused while the owner has changes HQ has not
-- received, fails with hq_unavailable while HQ is down, and survives
-- kill -9 of either store or of HQ with exactly one owner. Attacks: a
-- claim for another store, for an order that concerns the claimer not,
-- for no order, and a flood of claims while the loop keeps serving. Runs
-- on SQLite and, as chain_claim_spec@pg, with HQ on PostgreSQL (C1).
local e2e = require "e2e"
local cjson = require "cjson"

describe("C5: one owner per order, pickup at another store's server", function()
    local hq, a, b, ca, cb, h3

    local function start_stores()
        a = e2e.store(hq.port, {token = hq:hq_token("S001")})
        b = e2e.store(hq.port, {token = hq:hq_token("S002")})
    end
    local function clients()
        ca = a:connect()
        ca:login("S001", "1001", "1234")
        cb = b:connect()
        cb:login("S002", "1002", "9999") -- a manager: A5's other_store_orders for the return
    end

    setup(function()
        hq = e2e.hq()
        start_stores()
        clients()
    end)
    teardown(function()
        for _, s in ipairs({a, b, hq}) do if s then s:cleanup() end end
    end)

    local function is_err(r, code, what)
        assert.is_false(r.ok, (what or "") .. ": " .. cjson.encode(r))
        assert.are.equal(code, r.error.code, (what or "") .. ": " .. cjson.encode(r.error))
        return r.error
    end
    local function n(s) return tonumber((tostring(s):gsub("%s", ""))) end

    -- An S001 order: P200 to pick up at S002, P300 carried out; deposit paid.
    local function make()
        local r = ca:call_paying("order.create", {customer = "C0001", type = "order", lines = {
            {item = "P200", qty = 1, delivery = {mode = "pickup", store = "S002", date = e2e.date(2)}},
            {item = "P300", qty = 1, delivery = {mode = "carryout"}}}})
        assert.is_true(r.ok, cjson.encode(r))
        return r.result
    end
    local function at_hq(number)
        return e2e.wait_for(function()
            return n(hq:hq_sql("SELECT count(*) FROM hq_orders WHERE number = '" .. number .. "'")) == 1
        end, 10, number .. " at HQ")
    end
    local function hq_owner(number)
        return (hq:hq_sql("SELECT coalesce(owner, store) FROM hq_orders WHERE number = '" .. number
            .. "'"):gsub("%s", ""))
    end
    local function held(srv, number)
        return n(srv:sql("SELECT count(*) FROM orders WHERE number = '" .. number .. "' AND NOT read_only"))
    end
    local function pickup(c, number)
        return c:call_paying("order.pickup", {number = number, lines = {{line = 1, qty = 1}}})
    end
    local function money(o)
        return {o.version, o.status, o.totals.order, o.paid, o.refunded, o.balance, o.owner}
    end

    it("C5: made at A, a copy at B, picked up and returned at B, read-only at A, all agree", function()
        local o = make()
        assert.are.equal("S001", o.owner)
        at_hq(o.number)
        -- B does not hold it: order.get shows HQ's copy, read-only, and keeps nothing
        local copy = cb:ok("order.get", {number = o.number})
        assert.are.equal(o.number, copy.number)
        assert.are.equal("S001", copy.owner)
        assert.are.same(money(o), money(copy))
        assert.are.equal(0, n(b:sql("SELECT count(*) FROM orders WHERE number = '" .. o.number .. "'")))
        -- the pickup at B claims it through HQ and succeeds
        local r = pickup(cb, o.number)
        assert.is_true(r.ok, cjson.encode(r))
        local p = r.result.order or r.result
        assert.are.equal("S002", p.owner)
        assert.are.equal(1, held(b, o.number))
        assert.are.equal("S002", hq_owner(o.number))
        -- its history came along, and the claim is in it
        local ev = cb:ok("order.history", {number = o.number}).events
        local ops = {}
        for _, e in ipairs(ev) do ops[#ops + 1] = e.op end
        assert.are.equal("order.create", ops[1], cjson.encode(ops))
        assert.truthy(table.concat(ops, " "):find("order.claim", 1, true), cjson.encode(ops))
        -- return at B (A5: another store's order, the manager may)
        local inv = p.invoices[#p.invoices]
        local ret = cb:call_paying("order.return", {number = o.number, invoice = inv.id,
            lines = {{line = 1, qty = 1, reason = "defect"}}})
        assert.is_true(ret.ok, cjson.encode(ret))
        local final = cb:ok("order.get", {number = o.number})
        -- A learns the later states within 10 s, read-only
        local t0 = e2e.now()
        local seen = e2e.wait_for(function()
            local x = ca:ok("order.get", {number = o.number})
            return x.version == final.version and x
        end, 10, "A learns the return")
        assert.is_true(e2e.now() - t0 <= 10)
        assert.are.equal("S002", seen.owner)
        assert.are.same(money(final), money(seen))
        -- a change at A: invalid_state naming the owner, nothing changed
        local e = is_err(ca:call("order.cancel", {number = o.number}), "invalid_state", "cancel at A")
        assert.are.equal("S002", e.details.owner)
        e = is_err(ca:call("order.hold", {number = o.number, code = "x"}), "invalid_state", "hold at A")
        assert.are.equal("S002", e.details.owner)
        assert.are.same(money(final), money(ca:ok("order.get", {number = o.number})))
        -- HQ agrees to the cent, once B's changes are up
        local hc = hq:connect()
        hc:login_store("S002")
        local at = e2e.wait_for(function()
            local x = hc:ok("hq.order.get", {store = "S002", number = o.number})
            return x.order.version == final.version and x
        end, 10, "HQ has B's return")
        assert.are.equal("S002", at.owner)
        local paid, refunded = 0, 0
        for _, x in ipairs(at.order.payments) do paid = paid + x.amount end
        for _, x in ipairs(at.order.refunds) do refunded = refunded + x.amount end
        assert.are.equal(final.paid, paid)
        assert.are.equal(final.refunded, refunded)
        assert.is_true(final.refunded > 0)
        -- one owner: B; numbers stay unique (S001's prefix) at all three
        assert.are.equal(1, held(b, o.number))
        assert.are.equal(0, held(a, o.number))
        -- A's own events still carry the versions they announced, though
        -- A's row now holds B's newer version (orders_adopt keeps them)
        assert.are.equal("0", a:sql("SELECT count(*) FROM outbox_events WHERE order_number = '"
            .. o.number .. "' AND payload IS NULL"):match("%d+"))
        -- HQ makes its sales order; B, the owner, learns it (S3) as it would of its own
        local h1 = hq:connect()
        h1:login_store("S001")
        h1:ok("hq.synchronize", {store = "S001"})
        local sy = e2e.wait_for(function()
            local x = cb:ok("order.get", {number = o.number}).sync
            return x.state == "synchronized" and x
        end, 10, "B learns the sales order")
        assert.truthy(sy.hq_order)
    end)

    it("C5: a claim is refused (conflict) while A has changes HQ has not received", function()
        local o = make()
        at_hq(o.number)
        -- an edit of the order too big for the link: A sets it aside, so HQ
        -- never receives it, and A reports the order unsent
        a:sql("INSERT INTO outbox(store, order_number, type, payload, created_at) SELECT store,"
            .. " order_number, 'order.edit', json_set(payload, '$.note', substr(replace(hex("
            .. "zeroblob(700000)), '0', 'x'), 1, 1400000)), created_at FROM outbox_events WHERE"
            .. " order_number = '" .. o.number .. "' ORDER BY seq DESC LIMIT 1;")
        e2e.wait_for(function()
            return n(hq:hq_sql("SELECT count(*) FROM hq_unsent WHERE store = 'S001' AND number = '"
                .. o.number .. "'")) == 1
        end, 15, "A reports the order unsent")
        local e = is_err(pickup(cb, o.number), "conflict", "claim")
        assert.truthy(e.message:find("has changes to order " .. o.number .. " that HQ has not received", 1, true), e.message)
        -- nothing changed: A owns it, B holds nothing
        assert.are.equal("S001", hq_owner(o.number))
        assert.are.equal(0, n(b:sql("SELECT count(*) FROM orders WHERE number = '" .. o.number .. "'")))
        assert.are.equal("S001", ca:ok("order.get", {number = o.number}).owner)
    end)

    it("C5: HQ down during a claim: hq_unavailable and nothing changes; later it works", function()
        local o = make()
        at_hq(o.number)
        hq:stop()
        is_err(pickup(cb, o.number), "hq_unavailable", "claim with HQ down")
        is_err(cb:call("order.get", {number = o.number}), "hq_unavailable", "copy with HQ down")
        assert.are.equal(0, n(b:sql("SELECT count(*) FROM orders WHERE number = '" .. o.number .. "'")))
        -- A keeps serving its order meanwhile
        assert.are.equal("S001", ca:ok("order.get", {number = o.number}).owner)
        hq:start()
        assert.are.equal("S001", hq_owner(o.number))
        local r = e2e.wait_for(function()
            local x = pickup(cb, o.number)
            return x.ok and x
        end, 15, "the claim once HQ is back")
        assert.are.equal("S002", (r.result.order or r.result).owner)
        assert.are.equal("S002", hq_owner(o.number))
    end)

    it("C5: HQ killed with kill -9 mid-claim, then restarted: exactly one owner", function()
        local o = make()
        at_hq(o.number)
        local c = b:connect()
        c:login("S002", "1002", "9999")
        c:send("order.pickup", {number = o.number, lines = {{line = 1, qty = 1}},
            payments = {{tender = "cash", amount = 1}}})
        hq:kill9()
        c:recv() -- whatever it was: granted, hq_unavailable, or payment_mismatch
        hq:start()
        local r = e2e.wait_for(function()
            if held(b, o.number) == 1 then return true end
            local x = pickup(cb, o.number)
            return x.ok and x
        end, 20, "the claim after HQ's restart")
        assert.truthy(r)
        assert.are.equal("S002", hq_owner(o.number))
        assert.are.equal(1, held(b, o.number))
        e2e.wait_for(function()
            return ca:ok("order.get", {number = o.number}).owner == "S002"
        end, 10, "A learns")
        assert.are.equal(0, held(a, o.number))
    end)

    it("C5: B killed with kill -9 mid-claim: its retry gets the same grant; one owner", function()
        local o = make()
        at_hq(o.number)
        local c = b:connect()
        c:login("S002", "1002", "9999")
        c:send("order.pickup", {number = o.number, lines = {{line = 1, qty = 1}}})
        b:kill9()
        b:start()
        clients()
        local r = e2e.wait_for(function()
            local x = pickup(cb, o.number)
            if not x.ok and x.error.code == "invalid_state" then return {ok = true} end -- picked up already
            return x.ok and x
        end, 15, "B's retry")
        assert.truthy(r)
        assert.are.equal("S002", hq_owner(o.number))
        assert.are.equal(1, held(b, o.number))
    end)

    it("C5: A killed with kill -9 while the claim is in flight: B owns it, A learns on restart", function()
        local o = make()
        at_hq(o.number)
        e2e.sleep(3.5) -- A's report that nothing of the order is unsent
        local c = b:connect()
        c:login("S002", "1002", "9999")
        c:send("order.pickup", {number = o.number, lines = {{line = 1, qty = 1}}})
        a:kill9()
        local r = c:recv()
        if not r.ok and r.error.code == "payment_mismatch" then r = pickup(cb, o.number) end
        assert.is_true(r.ok, cjson.encode(r))
        assert.are.equal("S002", hq_owner(o.number))
        a:start()
        clients()
        local seen = e2e.wait_for(function()
            local x = ca:ok("order.get", {number = o.number})
            return x.owner == "S002" and x
        end, 10, "A learns after its restart")
        assert.are.equal("S002", seen.owner)
        is_err(ca:call("order.cancel", {number = o.number}), "invalid_state", "cancel at A")
        assert.are.equal(0, held(a, o.number))
        assert.are.equal(1, held(b, o.number))
    end)

    it("C5 attacks: another store's claim, an order that is none of its business, no order", function()
        local o = make()
        at_hq(o.number)
        h3 = hq:connect()
        h3:login_store("S003", hq:hq_token("S003"))
        -- a store token claiming for another store: forbidden
        is_err(h3:call("hq.order.claim", {store = "S002", number = o.number}), "forbidden", "for S002")
        -- for itself, an order with no pickup at S003: forbidden; its copy too
        is_err(h3:call("hq.order.claim", {store = "S003", number = o.number}), "forbidden", "for S003")
        is_err(h3:call("hq.order.get", {store = "S003", number = o.number}), "forbidden", "copy for S003")
        -- no such order
        is_err(h3:call("hq.order.claim", {store = "S003", number = "S001-999999"}), "not_found", "none")
        is_err(h3:call("hq.order.claim", {store = "S003", number = "nonsense"}), "not_found", "nonsense")
        is_err(pickup(cb, "S001-999999"), "not_found", "pickup of no order at B")
        -- a store forging a change of another store's order: conflict, nothing kept
        local doc = h3:call("hq.order.get", {store = "S001", number = o.number})
        assert.are.equal("forbidden", doc.error.code)
        local hs = hq:connect()
        hs:login_store("S001")
        local payload = hs:ok("hq.order.get", {store = "S001", number = o.number}).order
        payload.version = payload.version + 1
        local up = is_err(h3:call("hq.upload", {store = "S003", events = {{seq = 1, type = "order.cancel",
            payload = payload}}}), "conflict", "forged upload")
        assert.are.equal("S001", up.details.owner)
        assert.are.equal(0, n(hq:hq_sql("SELECT count(*) FROM hq_events WHERE store = 'S003'")))
        -- nothing moved
        assert.are.equal("S001", hq_owner(o.number))
    end)

    it("C5 attack: a flood of claims does not stall the loop", function()
        local c = b:connect()
        c:login("S002", "1003", "5555")
        local k = 300
        local buf = {}
        for i = 1, k do
            buf[#buf + 1] = c:request("order.pickup", {number = "S001-" .. (900000 + i),
                lines = {{line = 1, qty = 1}}})
        end
        assert(c:send_raw(table.concat(buf)))
        -- meanwhile another till is served at once
        local other = b:connect()
        local t0 = e2e.now()
        for _ = 1, 5 do assert.is_true(other:call("ping").ok) end
        assert.is_true(e2e.now() - t0 < 1.0, "pings took " .. (e2e.now() - t0))
        for _ = 1, k do
            local r = assert(c:recv())
            assert.are.equal("not_found", r.error.code)
        end
    end)
end)
