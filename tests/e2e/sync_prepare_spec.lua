-- sync_prepare_spec.lua: SPEC S1 in two steps. A sync-mode create is
-- decided once (prepare), HQ is sent that order, and the commit writes
-- exactly it: a price that changes while HQ thinks does not make the
-- store's order differ from HQ's, and the number is given at commit.
local e2e = require "e2e"
local cjson = require "cjson"

describe("S1: a sync create is prepared, sent to HQ, then committed", function()
    local dir, hq_pid, st, port
    setup(function()
        dir = e2e.tmpdir()
        port = e2e.free_port()
        hq_pid = e2e.sh_out("lua5.4 " .. e2e.q(e2e.root .. "/tests/lib/slow_hq.lua") .. " " .. port
            .. " 2.5 " .. e2e.q(dir .. "/sent.json") .. " >/dev/null 2>&1 & echo $!")
        e2e.wait_for(function()
            local c = e2e.connect(port)
            if c then c:close() return true end
        end, 10, "the stand-in HQ")
        st = e2e.store(port)
    end)
    teardown(function()
        if st then st:cleanup() end
        if hq_pid then e2e.sh("kill " .. hq_pid) end
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    it("HQ and the store keep the same order though the price changed meanwhile", function()
        local c = st:connect()
        c:login("S003", "1004", "4444")
        local id = c:send("order.create", e2e.carryout_order())
        e2e.sleep(0.2) -- prepared and sent; HQ answers after 2.5 s, after the init below
        local dearer = e2e.seed_variant(dir, "dearer", function(s)
            for _, p in ipairs(s.products) do if p.item == "P300" then p.price = 2499 end end
        end)
        local code = e2e.run("init --db " .. e2e.q(st.db) .. " --seed " .. e2e.q(dearer))
        assert.are.equal(0, code)
        local r = assert(c:recv())
        assert.are.equal(id, r.id)
        assert.is_true(r.ok, cjson.encode(r))
        local o = r.result
        assert.are.equal("synchronized", o.sync.state)
        assert.are.equal("HQ-SLOW-1", o.sync.hq_order)
        assert.are.equal("S003-000001", o.number) -- numbered at commit
        local sent = cjson.decode((assert(e2e.read_file(dir .. "/sent.json"))))
        assert.are.equal(1999, o.lines[1].unit_price)
        assert.are.equal(o.lines[1].unit_price, sent.lines[1].unit_price)
        assert.are.equal(o.lines[1].item, sent.lines[1].item)
        assert.are.equal(o.lines[1].qty, sent.lines[1].qty)
        -- the next create is priced anew
        local next_order = e2e.carryout_order()
        next_order.payments[1].amount = 2499
        local r2 = c:call("order.create", next_order)
        assert.is_true(r2.ok, cjson.encode(r2))
        assert.are.equal(2499, r2.result.lines[1].unit_price)
        assert.are.equal("S003-000002", r2.result.number)
    end)

    it("a create refused at prepare is answered at once, without HQ", function()
        local c = st:connect()
        c:login("S003", "1004", "4444")
        os.remove(dir .. "/sent.json")
        local bad = e2e.carryout_order()
        bad.payments[1].amount = 1
        local t0 = e2e.now()
        local r = c:call("order.create", bad)
        assert.are.equal("payment_mismatch", r.error.code)
        assert.is_true(e2e.now() - t0 < 1, "refused without waiting for HQ")
        assert.is_nil(e2e.read_file(dir .. "/sent.json"))
    end)
end)
