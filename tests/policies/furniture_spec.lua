-- furniture_spec.lua: the furniture retailer's policy (policies/furniture.lua).
local corder = require "corder"
local F = require "tests.policies.fixtures.orders"

describe("policies/furniture.lua", function()
  local p = corder.load_policy("policies/furniture.lua")

  it("keeps its own parameters next to the standard ones", function()
    local params = p:params()
    assert.equal(15, params.cancellation_charge_pct)
    assert.is_false(params.manual_shipping_charge)
    assert.equal(150000, params.free_shipping_from)
    assert.equal(3, #params.deposit_tiers)
  end)

  describe("deposit tiers by order value", function()
    local function order_of(value, mode)
      return F.order { lines = { F.line(1, "SOFA", 1, value, mode or "ship") } }
    end

    it("takes 10 % up to 1000.00", function()
      assert.equal(10000, p:deposit(order_of(100000)))
    end)
    it("takes 20 % up to 5000.00", function()
      assert.equal(20000, p:deposit(order_of(100001)))
      assert.equal(100000, p:deposit(order_of(500000)))
    end)
    it("takes 30 % above", function()
      assert.equal(300000, p:deposit(order_of(1000000)))
    end)
    it("counts carry-out lines in the order value but not in the base", function()
      local order = F.order { lines = { F.line(1, "SOFA", 1, 90000, "pickup"),
                                        F.line(2, "LAMP", 1, 20000, "carryout") } }
      assert.equal(18000, p:deposit(order)) -- 110000 is tier 2: 20 % of 90000
    end)
    it("asks nothing of B2B customers", function()
      local order = F.order { lines = { F.line(1, "SOFA", 1, 90000) }, b2b = true }
      assert.equal(0, p:deposit(order))
    end)
  end)

  describe("shipping", function()
    it("is a flat van charge below the threshold", function()
      local l = F.line(1, "CHAIR", 2, 20000, "ship")
      assert.equal(7500, p:shipping_charge(F.shipment { l }, F.order { lines = { l } }))
    end)
    it("is free from 1500.00 per shipment", function()
      local l = F.line(1, "SOFA", 1, 150000, "ship")
      assert.equal(0, p:shipping_charge(F.shipment { l }, F.order { lines = { l } }))
    end)
  end)

  describe("cancellation", function()
    local order = F.order { lines = { F.line(1, "SOFA", 1, 100000, "ship") },
                            created_at = "2030-01-01T10:00:00Z" }

    it("is free within 24 hours of the order", function()
      assert.equal(0, p:cancellation_charge(order, { now = "2030-01-02T09:59:59Z" }))
    end)
    it("costs 15 % of the open lines after that", function()
      assert.equal(15000, p:cancellation_charge(order, { now = "2030-01-02T10:00:00Z" }))
    end)
    it("reads time zone offsets in created_at", function()
      local o = F.order { lines = { F.line(1, "SOFA", 1, 100000) },
                          created_at = "2030-01-01T12:00:00+02:00" }
      assert.equal(0, p:cancellation_charge(o, { now = "2030-01-02T09:00:00Z" }))
      assert.equal(15000, p:cancellation_charge(o, { now = "2030-01-02T10:00:01Z" }))
    end)
  end)

  it("refunds the shipping share in whole currency units", function()
    local ret = F.ret { lines = { { line = 1, qty = 1, amount = 10000 } },
                        shipping_charged = 7500, proportional = 2499 }
    assert.equal(2400, p:shipping_refund(ret, F.order {}))
  end)

  it("grants by role", function()
    local lead = { id = "7", name = "Lea", role = "store_lead" }
    local wh = { id = "8", name = "Wim", role = "warehouse" }
    assert.is_true(p:permits(F.manager, "policy_reload"))
    assert.is_true(p:permits(lead, "deposit_override"))
    assert.is_false(p:permits(lead, "ship"))
    assert.is_true(p:permits(wh, "ship"))
    assert.is_false(p:permits(F.cashier, "deposit_override"))
  end)
end)

describe("policies/furniture.lua tax (T1)", function()
  local p = corder.load_policy("policies/furniture.lua")
  local order = F.order { lines = { F.line(1, "SOFA", 1, 121000, "ship") } }
  local function item(amount, dest) return { kind = "line", item = "SOFA", qty = 1, amount = amount, destination = dest } end

  it("takes the 21 % VAT part of a gross price at home", function()
    assert.equal(21000, p:tax(item(121000, { mode = "ship", country = "NL" }), order))
    assert.equal(21000, p:tax(item(121000, { mode = "pickup", store = "S001" }), order))
  end)
  it("uses the destination country's rate for a shipment abroad", function()
    assert.equal(19000, p:tax(item(119000, { mode = "ship", country = "DE" }), order))
    assert.equal(17000, p:tax(item(117000, { mode = "ship", country = "LU" }), order))
    -- a country without its own rate: the store's
    assert.equal(21000, p:tax(item(121000, { mode = "ship", country = "FR" }), order))
  end)
end)
