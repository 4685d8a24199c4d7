-- clerks_spec.lua: SPEC F3 over TCP: two clerks at two tills edit the same
-- order at the same moment; exactly one wins, the other gets conflict and
-- loses nothing. And bad input of every kind leaves the server serving and
-- the store unchanged.
local e2e = require "e2e"

describe("two clerks, one order", function()
    local srv, ann, bram
    setup(function()
        srv = e2e.server()
        ann = srv:connect(); ann:login("S001", "1001", "1234")
        bram = srv:connect(); bram:login("S001", "1002", "9999")
    end)
    teardown(function() srv:cleanup() end)

    it("F3: one wins, the other gets conflict; the order shows only the winner's change", function()
        local o = assert(ann:call_paying("order.create", e2e.hybrid_order())).result
        for round = 1, 5 do
            local cur = ann:ok("order.get", {number = o.number})
            -- both edits leave before either answer comes back
            local ia = ann:send("order.edit", {number = o.number, version = cur.version,
                                               update_lines = {{line = 2, qty = 1}}})
            local ib = bram:send("order.edit", {number = o.number, version = cur.version,
                                                update_lines = {{line = 2, qty = 2}}})
            local ra, rb = assert(ann:recv()), assert(bram:recv())
            assert.equal(ia, ra.id)
            assert.equal(ib, rb.id)
            local oks = (ra.ok and 1 or 0) + (rb.ok and 1 or 0)
            assert.equal(1, oks, "round " .. round)
            local loser = ra.ok and rb or ra
            assert.equal("conflict", loser.error.code)
            local now = ann:ok("order.get", {number = o.number})
            local winner_qty = ra.ok and 1 or 2
            assert.equal(winner_qty, now.lines[2].qty)
            assert.equal(cur.version + 1, now.version)
        end
    end)

    it("huge numbers, wrong types and unknown ops are refused, the store unchanged, the server serving", function()
        local before = srv:sql("SELECT count(*) FROM orders") .. srv:sql("SELECT count(*) FROM txlog")
        ann:send_raw('{"id":1,"op":"order.get","args":{"number":"x","y":99999999999999999999999}}\n')
        assert.equal("bad_request", assert(ann:recv()).error.code)
        local r = ann:call("order.create", {customer = "C0001", lines = {{item = "P100", qty = 1e300,
            delivery = {mode = "carryout"}}}})
        assert.equal("bad_request", r.error.code)
        ann:send_raw('{"id":7,"op":"order.create","args":{"customer":"C0001","lines":[{"item":"P100",'
                     .. '"qty":9223372036854775807,"delivery":{"mode":"carryout"}}]}}\n')
        r = assert(ann:recv())
        assert.equal("validation", r.error.code)   -- M4: an integer, but beyond any amount
        assert.equal("lines[0].qty", r.error.details.field)
        -- an empty key once looped forever in the args check (found by fuzz_dispatch)
        ann:send_raw('{"id":8,"op":"policy.info","args":{"":"S001"}}\n')
        r = assert(ann:recv())
        assert.equal("bad_request", r.error.code)
        r = ann:call("order.frobnicate", {})
        assert.equal("unknown_op", r.error.code)
        r = ann:call("order.pickup", {number = true, lines = {{line = 1, qty = 1}}})
        assert.equal("bad_request", r.error.code)
        assert.equal("number", r.error.details.field)
        assert.equal(before, srv:sql("SELECT count(*) FROM orders") .. srv:sql("SELECT count(*) FROM txlog"))
        assert.is_true(ann:ok("ping").pong)
    end)
end)
