-- peers.lua: helpers of the specs of `make bench`'s peers
-- (tests/e2e/bench_peers_spec.lua, tests/e2e/pg_bench_peer_spec.lua): the
-- bench's request, the bad requests the peers' checks send, and corder's own
-- answers to them on the bench store (tests/bench/seed.json, peers.lua).
local e2e = require "e2e"
local cjson = require "cjson"

local M = {}
M.dir = e2e.root .. "/tests/bench/peers"
-- the peers' tools run without the sanitizer runtime of `make test-asan`
M.PLAIN = "env -u LD_PRELOAD -u ASAN_OPTIONS "
local PEERS, PLAIN = M.dir, M.PLAIN

-- The request the bench sends (the peers' form: with "store").
function M.request()
    return e2e.sh_out(PLAIN .. "bash " .. e2e.q(PEERS .. "/redis_peer.sh") .. " request")
end

-- The bad requests of the peers' checks, made from the good one.
function M.bad_requests(req)
    local function sub(a, b) return (req:gsub(a, b, 1)) end
    return {
        ["unknown item"] = sub("P300", "P999"),
        ["unknown address"] = sub('"home"', '"moon"'),
        ["1 short of what is due"] = sub("21176", "21175"),
        ["1 over the order total"] = sub("21176", "81893"),
        ["a past date"] = (req:gsub('"date":"[%d-]+"', '"date":"2020-01-01"')),
        ["no such day"] = (req:gsub('"date":"[%d-]+"', '"date":"2031-02-30"')),
        ["unknown pickup store"] = sub('"S002"', '"S999"'),
        ["unknown customer"] = sub("C0001", "C9999"),
        ["qty 0"] = sub('"qty":3', '"qty":0'),
        ["no such delivery mode"] = sub("carryout", "teleport"),
    }
end

-- corder's answer to the request on the bench store, as the peers'
-- amounts; and the error codes of the bad requests.
function M.corder_amounts()
    local srv = e2e.server{seed = e2e.root .. "/tests/bench/seed.json",
                           policies = e2e.root .. "/tests/bench/policies"}
    local c = srv:connect()
    c:login("S001", "1001", "1234")
    local req = M.request()
    local args = cjson.decode(req)
    args.store = nil -- the session's store
    local o = c:ok("order.create", args)
    local shipping = 0
    for _, ch in ipairs(o.charges) do
        if ch.kind == "shipping" then shipping = shipping + ch.amount end
    end
    local refused = {}
    for what, bad in pairs(M.bad_requests(req)) do
        local a = cjson.decode(bad)
        a.store = nil
        local r = c:call("order.create", a)
        refused[what] = not r.ok and r.error.code
    end
    local made = c:ok("order.find", {}).orders
    c:close()
    srv:cleanup()
    return {shipping = shipping, deposit = o.deposit.required, invoiced = o.invoices[1].amount,
            paid = o.paid, balance = o.balance}, refused, #made
end

-- The amounts the peers answer with, in the order the specs compare them.
M.AMOUNTS = {"shipping", "deposit", "invoiced", "paid", "balance"}

return M
