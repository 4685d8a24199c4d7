-- pg_bench_peer_spec.lua: the PostgreSQL peer of `make bench`
-- (tests/bench/peers/pg_orders.sql, BENCH_FULL=1) does corder's work on the
-- bench's order: the same shipping charge (P4), 20 % deposit rounded half
-- away from zero (P1, M2), carry-out invoice, payment and balance (F1) as
-- corder on the bench store, and a refused request writes no row. Runs
-- only as e2e/pg_bench_peer_spec@pg, in the tests' private cluster.
local e2e = require "e2e"
local cjson = require "cjson"
local peers = require "peers"

describe("the bench's PostgreSQL peer (tests/bench/peers)", function()
    it("F1, P1, P4, M2: the PL/pgSQL function gives corder's amounts and writes nothing for a refused request", function()
        local url = e2e.pg_database()
        local sh = peers.PLAIN .. "bash " .. e2e.q(peers.dir .. "/pg_peer.sh")
        local dir = e2e.tmpdir()
        local code = e2e.sh(sh .. " load " .. e2e.q(url) .. " 20 >" .. dir .. "/load 2>&1 && " .. sh
            .. " check " .. e2e.q(url) .. " >" .. dir .. "/out 2>" .. dir .. "/err")
        local out = e2e.read_file(dir .. "/out") or ""
        local err = (e2e.read_file(dir .. "/load") or "") .. (e2e.read_file(dir .. "/err") or "")
        e2e.sh("rm -rf " .. e2e.q(dir))
        assert.are.equal(0, code, err)
        assert.truthy(err:find("10 bad requests refused, nothing written", 1, true), err)
        local peer = cjson.decode(out:match("([^\n]+)\n?$"))
        local corder = peers.corder_amounts()
        for _, k in ipairs(peers.AMOUNTS) do assert.are.equal(corder[k], peer[k], k) end
        -- 20 warm-up orders, the checked one, then this one
        assert.are.equal("S001-000022", peer.order)
    end)
end)
