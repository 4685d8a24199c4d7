-- sync_quarantine_spec.lua: no single event stops the upload queue. An
-- event the uploader can never send as it is (too big for one hq.upload
-- line, an unreadable payload) or that HQ refuses for good (bad_request,
-- validation, conflict) is set aside: recorded in the store's database,
-- shown by sync.status and on its order (`failed` with the reason), and the
-- orders behind it upload. Later events of the same order are held behind
-- it, so HQ never gets an order's events out of order. sync.retry sends
-- them again after a fix. HQ being down is not a reason to set anything
-- aside. The odd events are written straight into the store's outbox with
-- sqlite3, as a bug or a damaged disk would leave them.
local e2e = require "e2e"
local cjson = require "cjson"

-- sqlite3 on a live database (the server may hold the write lock briefly).
local function sql(srv, q)
    local p = io.popen("sqlite3 -cmd '.timeout 5000' " .. e2e.q(srv.db) .. " " .. e2e.q(q) .. " 2>&1")
    local out = p:read("a")
    p:close()
    return (out:gsub("%s+$", ""))
end

-- Appends an event of order `number` to the store's outbox: its latest
-- document changed by `set` (an SQL expression of `payload`); returns its seq.
local function append(srv, number, type, set)
    local out = sql(srv, "INSERT INTO outbox(store, order_number, type, payload, created_at)"
        .. " SELECT store, order_number, '" .. type .. "', " .. set .. ", created_at FROM outbox_events"
        .. " WHERE order_number = '" .. number .. "' ORDER BY seq DESC LIMIT 1;"
        .. " SELECT last_insert_rowid();")
    return assert(tonumber(out), out)
end

-- A note of n bytes in the order document.
local function padded(n)
    return "json_set(payload, '$.note', substr(replace(hex(zeroblob(" .. math.ceil(n / 2)
        .. ")), '0', 'x'), 1, " .. n .. "))"
end

local function hq_has(hq, seq)
    return tonumber(hq:hq_sql("SELECT count(*) FROM hq_events WHERE store = 'S001' AND seq = " .. seq)) == 1
end

describe("the quarantine", function()
    local hq, st, c, h
    setup(function()
        hq = e2e.hq()
        st = e2e.store(hq.port)
        c = st:connect()
        c:login("S001", "1001", "1234")
        h = hq:connect()
        h:login_store("S001")
    end)
    teardown(function()
        st:cleanup()
        hq:cleanup()
    end)

    local function status() return c:ok("sync.status") end
    local function state(number) return c:ok("order.get", {number = number}).sync end
    local function uploaded(number, t)
        return e2e.wait_for(function()
            local s = state(number)
            return (s.state == "uploaded" or s.state == "synchronized") and s
        end, t or 10, number .. " uploaded")
    end
    local function new_order() return c:ok("order.create", e2e.carryout_order()).number end
    -- an order with open lines, to cancel later
    local function open_order()
        local r = c:call_paying("order.create", e2e.hybrid_order())
        assert.is_true(r.ok, cjson.encode(r))
        return r.result.number
    end

    it("(a) an event too big for the link is set aside; orders after it upload", function()
        local big = open_order()
        uploaded(big)
        -- an edit 1.4 MB long (a 7,500-line order makes one): over HQ's 1 MiB line
        local seq = append(st, big, "order.edit", padded(1400000))
        -- one between the batch size and the line limit goes alone, and arrives
        local mid = new_order()
        local mid_seq = append(st, mid, "order.edit", padded(700000))
        local after = {}
        for i = 1, 3 do after[i] = new_order() end
        for i = 1, 3 do uploaded(after[i]) end
        assert.is_true(hq_has(hq, mid_seq), "the 700 KB event reached HQ")
        assert.is_false(hq_has(hq, seq))
        local s = state(big)
        assert.are.equal("failed", s.state)
        assert.matches("too_big", s.error)
        assert.matches("1 MiB", s.error)
        local st_ = status()
        assert.are.equal(1, st_.quarantined)
        assert.are.equal(0, st_.conflicts)
        assert.are.equal(0, st_.queue)
        assert.are.same(seq, st_.quarantined_oldest.seq)
        assert.are.equal(big, st_.quarantined_oldest.number)
        assert.are.equal("too_big", st_.quarantined_oldest.kind)
        assert.is_string(st_.quarantined_oldest.at)
        -- later events of the same order are held behind it, not sent
        local o = c:ok("order.get", {number = big})
        local cancelled = c:call_paying("order.cancel", {number = big, version = o.version})
        assert.is_true(cancelled.ok, cjson.encode(cancelled))
        local next_one = new_order()
        uploaded(next_one)
        local q = c:ok("sync.quarantine").events
        assert.are.equal(2, #q)
        assert.are.equal("too_big", q[1].kind)
        assert.are.equal("held", q[2].kind)
        assert.are.equal(seq, q[2].held_behind)
        assert.are.equal("order.cancel", q[2].type)
        assert.are.equal(2, status().quarantined)
        -- HQ keeps the order as it was before the big event, not the cancel
        local ho = h:ok("hq.order.get", {store = "S001", number = big})
        assert.is_falsy(ho.order.cancelled)
        -- retrying it cannot help: it is set aside again, counted
        assert.are.equal(2, c:ok("sync.retry", {seq = seq}).retrying)
        c:ok("sync.run")
        q = e2e.wait_for(function()
            local q = c:ok("sync.quarantine").events
            return q[1].attempts == 2 and q[1].retry == false and q
        end, 5, "the retry")
        assert.are.equal("too_big", q[1].kind)
        assert.are.equal("held", q[2].kind)
        assert.is_false(hq_has(hq, seq))
    end)

    local refused, refused_seq, held_seq
    it("(b) an event HQ refuses is set aside; orders after it upload", function()
        refused = open_order()
        uploaded(refused)
        -- an edit that names another store: HQ answers validation
        refused_seq = append(st, refused, "order.edit", "json_set(payload, '$.store', 'S002')")
        local o = c:ok("order.get", {number = refused})
        assert.is_true(c:call_paying("order.cancel", {number = refused, version = o.version}).ok)
        held_seq = tonumber(sql(st, "SELECT max(seq) FROM outbox WHERE order_number = '" .. refused .. "'"))
        local later = {}
        for i = 1, 3 do later[i] = new_order() end
        for i = 1, 3 do uploaded(later[i]) end
        local s = e2e.wait_for(function()
            local s = state(refused)
            return s.state == "failed" and s
        end, 5, "the refusal")
        assert.matches("refused", s.error)
        assert.matches("S002", s.error)
        local q = c:ok("sync.quarantine").events
        local by = {}
        for _, e in ipairs(q) do by[e.seq] = e end
        assert.are.equal("refused", by[refused_seq].kind)
        assert.matches("validation", by[refused_seq].reason)
        assert.are.equal("held", by[held_seq].kind)
        assert.are.equal(refused_seq, by[held_seq].held_behind)
        assert.is_false(hq_has(hq, refused_seq))
        assert.is_false(hq_has(hq, held_seq))
        -- the verdict of HQ about the order does not overwrite the refusal
        h:ok("hq.synchronize", {store = "S001"})
        e2e.sleep(2.5)
        assert.are.equal("failed", state(refused).state)
    end)

    it("(c) after a fix, sync.retry sends it, and what was held behind it, in order", function()
        -- the fix: the event as it should have been
        sql(st, "UPDATE outbox SET payload = json_set(payload, '$.store', 'S001') WHERE seq = " .. refused_seq)
        local r = c:ok("sync.retry", {number = refused})
        assert.are.equal(2, r.retrying)
        local s = uploaded(refused)
        assert.are.equal(0, status().retrying)
        assert.is_nil(s.error)
        assert.is_true(hq_has(hq, refused_seq))
        assert.is_true(hq_has(hq, held_seq))
        -- in seq order, so HQ's document is the newest: the cancel
        local ids = hq:hq_sql("SELECT seq FROM hq_events WHERE seq IN (" .. refused_seq .. "," .. held_seq
            .. ") ORDER BY id")
        assert.are.equal(refused_seq .. "\n" .. held_seq .. "\n", ids)
        local ho = h:ok("hq.order.get", {store = "S001", number = refused})
        assert.is_true(ho.order.cancelled)
        for _, e in ipairs(c:ok("sync.quarantine").events) do
            assert.are_not.equal(refused, e.number)
        end
        -- and it learns HQ's verdict again
        h:ok("hq.synchronize", {store = "S001"})
        e2e.wait_for(function() return state(refused).state == "synchronized" end, 8, "the verdict")
        -- nothing to retry: not_found
        assert.are.equal("not_found", c:call("sync.retry", {number = refused}).error.code)
        assert.are.equal("not_found", c:call("sync.retry", {seq = 999999}).error.code)
    end)

    it("an unreadable payload is set aside without bothering HQ", function()
        local n = new_order()
        uploaded(n)
        local seq = append(st, n, "order.edit", "'{\"number\": \"' || order_number || '\", \"bad\": \"' || char(255) || '\"'")
        local after = new_order()
        uploaded(after)
        local q = c:ok("sync.quarantine").events
        local found
        for _, e in ipairs(q) do if e.seq == seq then found = e end end
        assert.is_truthy(found)
        assert.are.equal("unreadable", found.kind)
        assert.are.equal("failed", state(n).state)
    end)

    it("a conflict at HQ is set aside and counted in sync.status", function()
        -- HQ already holds the store's next seq with other content (as after
        -- the store's database came back from an old backup)
        local next_seq = tonumber(sql(st, "SELECT max(seq) FROM outbox")) + 1
        h:ok("hq.upload", {store = "S001", events = {{seq = next_seq, type = "order.create",
            payload = {number = "S001-OLD", store = "S001"}}}})
        local n = new_order()
        assert.are.equal(next_seq, tonumber(sql(st, "SELECT max(seq) FROM outbox")))
        local after = new_order()
        uploaded(after)
        local s = e2e.wait_for(function()
            local s = state(n)
            return s.state == "failed" and s
        end, 5, "the conflict")
        assert.matches("conflict", s.error)
        local stt = status()
        assert.are.equal(1, stt.conflicts)
        -- HQ kept its own and listed the conflict
        local hc = h:ok("hq.conflicts", {store = "S001"}).conflicts
        assert.are.equal(1, #hc)
        assert.are.equal(next_seq, hc[1].seq)
        assert.are.equal(n, hc[1].offered.number)
        assert.are.equal("S001-OLD", hc[1].kept.number)
    end)

    it("HQ holding higher seqs of the store does not make it skip its new events", function()
        -- the old life of a restored store: HQ has seqs beyond the store's newest
        local base = tonumber(sql(st, "SELECT max(seq) FROM outbox"))
        local old = {}
        for k = 2, 3 do
            old[#old + 1] = {seq = base + k, type = "order.create",
                payload = {number = "S001-OLD" .. k, store = "S001"}}
        end
        h:ok("hq.upload", {store = "S001", events = old})
        local a = new_order() -- base + 1: HQ answers acked_through base + 3
        uploaded(a)
        local b, c2 = new_order(), new_order() -- base + 2, base + 3: HQ has other content
        local d = new_order()
        uploaded(d)
        for _, n in ipairs({b, c2}) do
            local s = e2e.wait_for(function()
                local s = state(n)
                return s.state == "failed" and s
            end, 5, n .. " set aside")
            assert.matches("conflict", s.error)
        end
        assert.are.equal(3, status().conflicts)
    end)

    it("HQ down is not a reason to set anything aside", function()
        local before = status().quarantined
        hq:stop()
        local n = new_order()
        e2e.wait_for(function()
            local s = state(n)
            return s.attempts >= 2 and s
        end, 5, "failed attempts")
        assert.are.equal("pending", state(n).state)
        assert.are.equal(before, status().quarantined)
        hq:start()
        uploaded(n, 15)
        assert.are.equal(before, status().quarantined)
    end)
end)

describe("corder sync and the quarantine", function()
    local hq, st
    setup(function()
        hq = e2e.hq()
        st = e2e.server()
    end)
    teardown(function()
        st:cleanup()
        hq:cleanup()
    end)

    it("sets aside, uploads the rest, and exits 1 naming it", function()
        local c = st:connect()
        c:login("S002", "1003", "5555")
        local big = c:ok("order.create", e2e.carryout_order()).number
        local seq = append(st, big, "order.edit", padded(1100000))
        local after = c:ok("order.create", e2e.carryout_order()).number
        local code, out, err = e2e.run("sync --db " .. e2e.q(st.db) .. " --hq 127.0.0.1:" .. hq.port
            .. " --hq-token " .. e2e.q(e2e.HQ_TOKEN))
        assert.are.equal(1, code, err)
        assert.matches("sent 2, acked 2", out)
        assert.matches("set aside 1", out)
        assert.matches("seq " .. seq, err)
        assert.are.equal("uploaded", c:ok("order.get", {number = after}).sync.state)
        code, out, err = e2e.run("sync --db " .. e2e.q(st.db) .. " --hq 127.0.0.1:" .. hq.port
            .. " --hq-token " .. e2e.q(e2e.HQ_TOKEN))
        assert.are.equal(0, code, err) -- set aside once; the next run has nothing new
    end)
end)
