-- durability_load_spec.lua: an ok answer survives kill -9, under load
-- (PROTOCOL.md "Framing": an answer to a write is sent only once the write
-- is committed). durability_spec.lua kills a server that one client feeds;
-- here tests/bench/loadgen keeps many connections busy with order.create,
-- as a shop's tills (or an outside check) would, and writes down the
-- number of every order it got an ok answer for (--acked). The server is
-- killed with SIGKILL mid-load, started again on the same database, and
-- every one of those numbers must be there.
--
-- At 100 connections x 2 in flight a commit's answers go to 64 connections
-- and more, so the sender thread writes them (engine/net/sender.c): the
-- spec checks, before the kill, that it did. At 32 x 2 the loop writes
-- them itself. Each case kills the same database twice, so the second load
-- runs on a store recovered from a kill.
local e2e = require "e2e"

local LOADGEN = e2e.build .. "/loadgen"

local CREATED = 'corder_requests_total{op="order.create",code="ok"}'

-- loadgen in the background against srv; returns the files it writes (its
-- exit status through e2e.sh_bg, written whole: a file made but not yet
-- written once read as an empty status in CI, under ASan).
local function start_load(srv, conns, depth, round)
    local f = {
        acked = srv.dir .. "/acked" .. round,
        out = srv.dir .. "/load" .. round,
        rc = srv.dir .. "/load_rc" .. round,
    }
    e2e.sh_bg(e2e.q(LOADGEN) .. " --port " .. srv.port .. " -c " .. conns .. " -d " .. depth
        .. " -t 120 -w 0 --acked " .. e2e.q(f.acked), f.out, f.rc)
    return f
end

-- The numbers in an --acked file, checked to be distinct.
local function read_acked(path)
    local numbers, seen = {}, {}
    for n in (e2e.read_file(path) or ""):gmatch("[^\n]+") do
        assert.is_nil(seen[n], "order " .. n .. " acknowledged twice")
        seen[n] = true
        numbers[#numbers + 1] = n
    end
    return numbers
end

-- How many of numbers the database lacks (the numbers go in a temporary
-- table: the store's file is only read).
local function missing(srv, numbers)
    local sql = {"CREATE TEMP TABLE acked(number TEXT PRIMARY KEY);", "BEGIN;"}
    for _, n in ipairs(numbers) do
        assert(n:match("^[%w%-]+$"), "unexpected order number " .. n)
        sql[#sql + 1] = "INSERT INTO acked VALUES('" .. n .. "');"
    end
    sql[#sql + 1] = "COMMIT;"
    sql[#sql + 1] = "SELECT 'missing=' || count(*) FROM acked a WHERE NOT EXISTS"
        .. " (SELECT 1 FROM orders o WHERE o.number = a.number);"
    local file = srv.dir .. "/check.sql"
    e2e.write_file(file, table.concat(sql, "\n"))
    local p = io.popen("sqlite3 " .. e2e.q(srv.db) .. " <" .. e2e.q(file) .. " 2>&1")
    local out = p:read("a")
    p:close()
    return tonumber(out:match("missing=(%d+)")) or error("sqlite3: " .. out)
end

-- Load, kill -9 once some orders are acknowledged (and, with sender, once
-- the sender thread has written answers), restart, check. Returns how many
-- orders were acknowledged.
local function kill_under_load(srv, conns, depth, round, sender)
    local made0 = srv:metric(CREATED)
    local f = start_load(srv, conns, depth, round)
    e2e.wait_for(function() return srv:metric(CREATED) - made0 >= 1000 end, 60,
        "1,000 orders under load")
    if sender then
        assert(e2e.wait_for(function()
            return srv:metric("corder_answer_writes_by_thread_total") > 0
        end, 30, "answers written by the sender thread"))
    end
    srv:kill9()
    e2e.wait_for(function() return e2e.read_file(f.rc) end, 60, "loadgen to end")
    local out = e2e.read_file(f.out)
    assert.are.equal("0", (e2e.read_file(f.rc):gsub("%s", "")), out)
    -- every connection was dropped by the kill, none by an error before it
    assert.are.equal(tostring(conns), out:match("closed=(%d+)"), out)
    local numbers = read_acked(f.acked)
    assert.are.equal(tonumber(out:match("acked=(%d+)")), #numbers)
    assert.is_true(#numbers >= 1000, out)
    srv:start() -- recovers the database the kill left
    assert.are.equal(0, missing(srv, numbers), "acknowledged orders lost (of " .. #numbers .. ")")
    assert.are.equal("ok\n", srv:sql("PRAGMA integrity_check"))
    return #numbers
end

describe("durability under load", function()
    local srv
    before_each(function() srv = e2e.server{args = "--http 127.0.0.1:0"} end)
    after_each(function() srv:cleanup() end)

    it("keeps every acknowledged order across kill -9 at 100 connections x 2 (sender thread)",
        function()
            for round = 1, 2 do kill_under_load(srv, 100, 2, round, true) end
        end)

    it("keeps every acknowledged order across kill -9 at 32 connections x 2", function()
        for round = 1, 2 do kill_under_load(srv, 32, 2, round, false) end
    end)
end)
