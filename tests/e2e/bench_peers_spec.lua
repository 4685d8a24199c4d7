-- bench_peers_spec.lua: `make bench` compares corder with peers of its own
-- (tests/bench/peers/): the bench's order as a Redis Function, and (in
-- pg_bench_peer_spec.lua) as a PostgreSQL function. A comparison is fair
-- only if they do the same work, so: corder on the bench store
-- (tests/bench/seed.json, policy peers.lua) answers the order with the
-- shipping charge (P4), the 20 % deposit rounded half away from zero (P1,
-- M2), the carry-out invoice, payment and balance (F1) the peers assert,
-- refuses the bad requests the peers refuse, and the Redis peer's answer
-- carries the same amounts (its own check also proves that a refused
-- request writes nothing).
local e2e = require "e2e"
local cjson = require "cjson"
local peers = require "peers"

describe("the bench's Redis peer (tests/bench/peers)", function()
    it("F1, P1, P4, M2: corder answers the bench order with the peers' amounts, and refuses their bad requests", function()
        local amounts, refused, made = peers.corder_amounts()
        assert.are.same({shipping = 995, deposit = 15179, invoiced = 5997, paid = 21176,
                         balance = 60716}, amounts)
        for what, code in pairs(refused) do
            assert.is_truthy(code, what .. " was accepted")
        end
        assert.are.equal(1, made) -- only the good order
    end)

    it("F1, P1, P4, M2: the Redis Function gives corder's amounts and writes nothing for a refused request", function()
        if e2e.sh("command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null") ~= 0 then
            pending("redis-server is not installed (apt-get install redis-server redis-tools)")
            return
        end
        local dir = e2e.tmpdir()
        local code = e2e.sh(peers.PLAIN .. "bash " .. e2e.q(peers.dir .. "/redis_peer.sh") .. " selftest >"
            .. dir .. "/out 2>" .. dir .. "/err")
        local out, err = e2e.read_file(dir .. "/out"), e2e.read_file(dir .. "/err")
        e2e.sh("rm -rf " .. e2e.q(dir))
        assert.are.equal(0, code, err)
        assert.truthy(err:find("11 bad requests refused, nothing written", 1, true), err)
        local peer = cjson.decode(out:match("([^\n]+)\n?$"))
        local corder = peers.corder_amounts()
        for _, k in ipairs(peers.AMOUNTS) do assert.are.equal(corder[k], peer[k], k) end
        assert.truthy(peer.order:match("^S001%-%d%d%d%d%d%d$"), peer.order)
    end)
end)
