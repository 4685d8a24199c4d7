-- electronics_spec.lua: the electronics retailer's policy
-- (policies/electronics.lua).
local corder = require "corder"
local F = require "tests.policies.fixtures.orders"

describe("policies/electronics.lua", function()
  local p = corder.load_policy("policies/electronics.lua")

  describe("deposit", function()
    it("is 15 % for stock items", function()
      local order = F.order { lines = { F.line(1, "HDMI-2M", 2, 1999, "ship") },
                              charges = { F.ship_charge(995) } }
      assert.equal(749, p:deposit(order)) -- (3998 + 995) * 15 % = 748.95
    end)
    it("is the full price of special-order items", function()
      local order = F.order { lines = { F.line(1, "TV-OLED-88", 1, 499900, "pickup"),
                                        F.line(2, "HDMI-2M", 1, 2000, "pickup") } }
      assert.equal(499900 + 300, p:deposit(order))
    end)
    it("asks B2B customers for special-order items only", function()
      local order = F.order { lines = { F.line(1, "TV-OLED-88", 1, 499900, "ship"),
                                        F.line(2, "HDMI-2M", 10, 2000, "ship") },
                              b2b = true }
      assert.equal(499900, p:deposit(order))
    end)
  end)

  it("ships free from 500.00", function()
    local cheap, dear = F.line(1, "HDMI-2M", 1, 1999), F.line(2, "TV-55", 1, 59900)
    assert.equal(995, p:shipping_charge(F.shipment { cheap }, F.order { lines = { cheap } }))
    assert.equal(0, p:shipping_charge(F.shipment { dear }, F.order { lines = { dear } }))
  end)

  it("charges restocking on cancelled special orders only", function()
    local order = F.order { lines = { F.line(1, "PROJ-4K-LASER", 1, 250000),
                                      F.line(2, "HDMI-2M", 1, 2000) } }
    assert.equal(62500, p:cancellation_charge(order))
  end)

  describe("shipping refund", function()
    it("is nothing when nothing came back damaged", function()
      local ret = F.ret { lines = { { line = 1, qty = 1, amount = 10000, reason = "changed_mind" } },
                          shipping_charged = 995, proportional = 995 }
      assert.equal(0, p:shipping_refund(ret, F.order {}))
    end)
    it("is the damaged goods' part of the proportional share", function()
      local ret = F.ret { lines = { { line = 1, qty = 1, amount = 30000, reason = "damaged" },
                                    { line = 2, qty = 1, amount = 10000, reason = "wrong_size" } },
                          shipping_charged = 995, proportional = 800 }
      assert.equal(600, p:shipping_refund(ret, F.order {}))
    end)
    it("works the share out from the invoice when the engine gives none", function()
      local order = F.order { invoices = { { id = "S001-000001-1",
        lines = { { line = 1, qty = 2, amount = 40000 } } } } }
      local ret = F.ret { lines = { { line = 1, qty = 1, amount = 20000, reason = "damaged" } },
                          shipping_charged = 995 }
      assert.equal(498, p:shipping_refund(ret, order)) -- 497.5
    end)
  end)

  it("lets supervisors override deposits and approve refunds", function()
    local sup = { id = "9", name = "Sam", role = "supervisor" }
    assert.is_true(p:permits(sup, "deposit_override"))
    assert.is_true(p:permits(sup, "shipping_refund_over_limit"))
    assert.is_false(p:permits(sup, "policy_reload"))
    assert.is_true(p:permits(F.manager, "policy_reload"))
  end)
end)

describe("policies/electronics.lua tax (T1)", function()
  local p = corder.load_policy("policies/electronics.lua")
  local order = F.order { lines = { F.line(1, "TV-55", 1, 99900, "pickup") } }

  it("puts 21 % on top of a line and of a charge", function()
    assert.equal(20979, p:tax({ kind = "line", item = "TV-55", qty = 1, amount = 99900,
                                destination = { mode = "pickup", store = "S001" } }, order))
    assert.equal(209, p:tax({ kind = "charge", code = "SHIP", amount = 995,
                              destination = { mode = "ship", country = "NL" } }, order))
  end)
  it("takes the reduced 9 % for the reduced-rate group", function()
    assert.equal(450, p:tax({ kind = "line", item = "EBOOK-BUNDLE", qty = 2, amount = 5000,
                              destination = { mode = "carryout", store = "S001" } }, order))
  end)
end)
