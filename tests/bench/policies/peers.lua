-- peers.lua: the policy of the benchmark's store (tests/bench/seed.json).
-- The retailer of the peers' workload (tests/bench/peers/README.md) takes a
-- 20 % deposit and charges 995 per shipment; both are parameters, so the
-- file needs no hook of its own: the engine's default rules apply.
return { parameters = { default_deposit_pct = 20, default_shipping_charge = 995 } }
