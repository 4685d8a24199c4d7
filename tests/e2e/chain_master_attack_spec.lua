-- chain_master_attack_spec.lua: SPEC C4 under attack. At HQ: a store's
-- token asking hq.master.since for absurd versions and limits, paging
-- with the smallest limit, and uploading customers it should not
-- (another store's session, broken ones, too many): clear errors, HQ's
-- master data unchanged. At a store: a hostile or broken HQ (a stand-in,
-- tests/lib/fake_master_hq.lua) hands out master pages that would break
-- it: each is refused whole, nothing of it applied, the reason in
-- sync.status; a good page afterwards goes in. Runs on both HQ backends
-- (ctest's @pg entry).
local e2e = require "e2e"
local cjson = require "cjson"

describe("C4 attacks at HQ: hq.master.since and hq.customer.put", function()
    local hq, t1
    setup(function()
        hq = e2e.hq()
        t1 = hq:hq_token("S001")
    end)
    teardown(function() hq:cleanup() end)

    it("C4: absurd versions and limits are refused or answered harmlessly", function()
        local h = hq:connect()
        assert.are.equal("unauthenticated", h:call("hq.master.since", {version = 0}).error.code)
        h:login_store("S001", t1) -- a store's own token reads the chain's master data
        local all = h:ok("hq.master.since", {version = 0})
        assert.is_true(#all.changes >= 10)
        assert.is_false(all.more)
        for _, args in ipairs({{version = -1}, {version = 0, limit = 0}, {version = 0, limit = -5},
                               {version = 0, limit = 1000000000}, {version = 0, limit = 1001}}) do
            local r = h:call("hq.master.since", args)
            assert.is_false(r.ok, cjson.encode(args))
            assert.are.equal("bad_request", r.error.code, cjson.encode(args))
            assert.matches(args.version == -1 and "version" or "limit", r.error.message)
        end
        for _, args in ipairs({{version = "0"}, {version = 1.5}, {}, {version = 0, limit = "9"},
                               {version = 0, extra = 1}}) do
            local r = h:call("hq.master.since", args)
            assert.are.equal("bad_request", r.error.code, cjson.encode(args))
        end
        -- a version from the future: nothing, and HQ's own newest version
        local future = h:ok("hq.master.since", {version = 99999999999999})
        assert.are.equal(0, #future.changes)
        assert.are.equal(all.version, future.version)
        -- the smallest pages walk the same changes, one at a time
        local v, seen = 0, 0
        repeat
            local p = h:ok("hq.master.since", {version = v, limit = 1})
            assert.is_true(#p.changes <= 1)
            seen = seen + #p.changes
            if #p.changes == 1 then
                assert.is_true(p.changes[1].version > v)
                assert.are.equal(cjson.encode(all.changes[seen]), cjson.encode(p.changes[1]))
            end
            v = p.version
        until not p.more
        assert.are.equal(#all.changes, seen)
        h:close()
    end)

    it("C4: customers uploaded by the wrong session or broken are refused, nothing kept", function()
        local h = hq:connect()
        local good = {account = "S001-C900001", name = "Up Loaded", addresses = {{id = "a1", city = "Delft"}}}
        assert.are.equal("unauthenticated",
            h:call("hq.customer.put", {store = "S001", customers = {good}}).error.code)
        h:login_store("S001", t1)
        assert.are.equal("forbidden", h:call("hq.customer.put", {store = "S002", customers = {good}}).error.code)
        local before = h:ok("hq.master.since", {version = 0}).version
        local bad = {
            {good, {account = "S001-C900002"}},                            -- no name
            {good, {account = "S001-C900003", name = "X", admin = true}}, -- unknown field
            {good, {name = "no account"}},
            {good, "not an object"},
            {good, {account = "S001-C900004", name = "Many", addresses = (function()
                local t = {}
                for i = 1, 101 do t[i] = {id = "a" .. i} end
                return t
            end)()}},
            {good, {account = string.rep("x", 40), name = "Long"}},
        }
        for i, list in ipairs(bad) do
            local r = h:call("hq.customer.put", {store = "S001", customers = list})
            assert.is_false(r.ok, "case " .. i)
            assert.is_truthy(r.error.code == "validation" or r.error.code == "bad_request", cjson.encode(r.error))
        end
        local many = {}
        for i = 1, 501 do many[i] = {account = "S001-M" .. i, name = "M" .. i} end
        assert.are.equal("bad_request", h:call("hq.customer.put", {store = "S001", customers = many}).error.code)
        -- nothing of it at HQ: no new version, not even the good one before each bad one
        assert.are.equal(before, h:ok("hq.master.since", {version = 0}).version)
        assert.are.equal(1, h:ok("hq.customer.put", {store = "S001", customers = {good}}).accepted)
        local after = h:ok("hq.master.since", {version = before})
        assert.are.equal(1, #after.changes)
        assert.are.equal("S001-C900001", after.changes[1].doc.account)
        -- the same customer again is no change at all (no new version)
        h:ok("hq.customer.put", {store = "S001", customers = {good}})
        assert.are.equal(after.version, h:ok("hq.master.since", {version = 0}).version)
        h:close()
    end)
end)

describe("C4 attacks at a store: hostile master pages from HQ", function()
    local dir, pid, st, port, pagefile
    local HASH = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"

    local function page(p)
        -- (this cjson writes an empty table as {}: a page's empty list is [])
        e2e.write_file(pagefile, type(p) == "string" and p or (cjson.encode(p):gsub('"changes":{}', '"changes":[]')))
    end
    local function product(v, item, price)
        return {kind = "product", key = item, version = v, doc = {item = item, name = "Thing", price = price}}
    end
    local function status(c) return c:ok("sync.status").master end

    setup(function()
        dir = e2e.tmpdir()
        pagefile = dir .. "/page.json"
        port = e2e.free_port()
        page({version = 0, changes = {}, more = false, source = "fake"})
        pid = e2e.sh_out("lua5.4 " .. e2e.q(e2e.root .. "/tests/lib/fake_master_hq.lua") .. " " .. port
            .. " " .. e2e.q(pagefile) .. " >/dev/null 2>&1 & echo $!")
        e2e.wait_for(function()
            local c = e2e.connect(port)
            if c then c:close() return true end
        end, 10, "the stand-in HQ")
        -- asking every 200 ms (--master-poll-ms), not every 3 s: the cases
        -- below wait for one poll each
        st = e2e.store(port, {args = "--master-poll-ms 200"})
    end)
    teardown(function()
        if st then st:cleanup() end
        if pid then e2e.sh("kill " .. pid) end
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    it("C4: each hostile page is refused whole; nothing of it is applied", function()
        local c = st:connect()
        c:login("S001", "1001", "1234")
        e2e.wait_for(function() return status(c).source == "fake" end, 10, "the first (empty) page")
        local function snapshot()
            return st:sql("SELECT item, price FROM products ORDER BY item; SELECT id, pin_hash, role FROM staff"
                .. " ORDER BY id; SELECT * FROM staff_stores ORDER BY 1, 2; SELECT version, source FROM master_sync;"
                .. " SELECT account, name FROM customers ORDER BY 1; SELECT * FROM stores ORDER BY id;"
                .. " SELECT * FROM reason_codes ORDER BY 1, 2")
        end
        local before = snapshot()
        local many = {}
        for i = 1, 1001 do many[i] = product(i, "P" .. i, 1) end
        local cases = {
            -- what HQ sends, and what the refusal says
            {{version = 2, source = "fake", changes = {product(1, "P100", 1),
                {kind = "staff", key = "1001", version = 2, doc = {id = "1001", name = "Ann", role = "cashier",
                 pin_hash = "1234", stores = {"S001"}}}}}, "not a PIN hash"},
            {{version = 2, source = "fake", changes = {product(1, "P100", 1), product(2, "P200", -5)}}, "price"},
            {{version = 1, source = "fake", changes = {product(1, "P100", "cheap")}}, "price"},
            {{version = 2, source = "fake", changes = {product(2, "P100", 1), product(1, "P200", 1)}}, "version"},
            {{version = 1, source = "fake", changes = {product(1, "P200", 1), product(1, "P300", 1)}}, "version"},
            {{version = 9, source = "fake", changes = {product(1, "P100", 1)}}, "last change"},
            {{version = 1, source = "fake", changes = {{kind = "root", key = "x", version = 1, doc = {}}}}, "unknown kind"},
            {{version = 1, source = "fake", changes = {{kind = "product", key = "P100", version = 1,
                doc = {item = "P200", name = "Swap", price = 1}}}}, "key"},
            {{version = 1, source = "fake", changes = {{kind = "store", key = "S001", version = 1,
                doc = {id = "S001", name = "X", currency = "EUR", order_creation = "never"}}}}, "order_creation"},
            {{version = 1, source = "fake", changes = {{kind = "product", key = "P100", version = 1}}}, "either a doc or removed"},
            {{version = 1001, source = "fake", changes = many}, "changes"},
            {{version = 1, changes = {product(1, "P100", 1)}}, "source"},
            {{version = 1, source = "fake", changes = {product(1, "P100", 1)}, admin = true}, "admin"},
            {{version = 5, source = "fake", changes = {}}, "without the changes"},
            {'"just a string"', "expected an object"},
        }
        local t0 = e2e.now()
        for i, case in ipairs(cases) do
            page(case[1])
            local m = e2e.wait_for(function()
                local x = status(c)
                return x.error and x.error:find(case[2], 1, true) and x
            end, 10, "case " .. i .. " refused (" .. case[2] .. ")")
            assert.matches("refused, nothing of it applied", m.error)
            assert.are.equal(0, m.version, "case " .. i)
            assert.are.equal(before, snapshot(), "case " .. i .. " changed the store")
        end
        -- 15 pages in a few seconds: the store asked every 200 ms (at the
        -- default 3 s it takes some 45)
        assert.is_true(e2e.now() - t0 < 20, "15 pages took " .. (e2e.now() - t0) .. " s")
        -- the store served all along, and a good page goes in
        assert.are.equal(49900, c:ok("order.preview", e2e.hybrid_order()).lines[1].unit_price)
        page({version = 5, source = "fake", changes = {product(5, "P100", 50100)}})
        e2e.wait_for(function() return status(c).version == 5 end, 10, "the good page")
        assert.is_nil(status(c).error)
        assert.are.equal(50100, c:ok("order.preview", e2e.hybrid_order()).lines[1].unit_price)
        -- a page replaying older versions is refused as well
        page({version = 6, source = "fake", changes = {product(4, "P100", 1), product(6, "P200", 1)}})
        e2e.wait_for(function()
            local x = status(c)
            return x.error and x.error:find("version", 1, true)
        end, 10, "the replay refused")
        assert.are.equal(5, status(c).version)
        assert.are.equal(50100, c:ok("order.preview", e2e.hybrid_order()).lines[1].unit_price)
        -- a page with a valid staff change is taken (the hash is the doc's)
        page({version = 7, source = "fake", changes = {{kind = "staff", key = "1001", version = 7,
            doc = {id = "1001", name = "Ann", role = "cashier", pin_hash = HASH, stores = {"S001"}}}}})
        e2e.wait_for(function() return status(c).version == 7 end, 10, "the staff page")
        c:close()
    end)
end)
