-- default_spec.lua: policies/default.lua is the SPEC defaults as parameters
-- and no hook (L1: a store on it runs no Lua for a decision; the engine's
-- rules in C answer, tests/unit/test_policy_view.c counts the calls), and
-- the same rules written out as hooks (tests/policies/fixtures/
-- spelled_out.lua, what a retailer starts from) give exactly the rules of
-- SPEC.md (P1, F1, F6, F7, A2), through the real sandbox.
local corder = require "corder"
local F = require "tests.policies.fixtures.orders"

describe("policies/default.lua", function()
  local d = corder.load_policy("policies/default.lua")
  local p = corder.load_policy("tests/policies/fixtures/spelled_out.lua")

  it("L1: spells out the SPEC defaults as parameters, and defines no hook", function()
    assert.same({
      default_deposit_pct = 10, cancellation_charge_pct = 5,
      cancellation_charge_code = "CANCEL", shipping_charge_code = "SHIP",
      refund_shipping_charges = true, max_shipping_refund_without_approval = 2500,
      quote_validity_days = 30, manual_shipping_charge = true, default_shipping_charge = 0,
      require_collector = false, tax_pct = 0, prices_include_tax = false,
      -- refund_tenders = nil (R2): the order's own tenders and store_credit
    }, d:params())
    assert.is_nil(d:params().refund_tenders)
    assert.matches("^%x+$", d:version())
    assert.equal(64, #d:version())
    -- a loaded policy prints as its name, file and the version's first 12 digits
    assert.equal("corder.policy default (policies/default.lua, version " .. d:version():sub(1, 12) .. ")",
      tostring(d))
    for _, hook in ipairs { "deposit", "shipping_charge", "cancellation_charge",
                            "shipping_refund", "permits", "tax" } do
      assert.is_false(d:has(hook), hook)
    end
    -- the spelled-out rules: every hook but tax, on the same parameters
    for _, hook in ipairs { "deposit", "shipping_charge", "cancellation_charge",
                            "shipping_refund", "permits" } do
      assert.is_true(p:has(hook), hook)
    end
    assert.is_false(p:has("tax"))
    assert.is_false(p:has("nothing"))
  end)

  it("L1: a hook it leaves out is not called (the engine's rule answers)", function()
    assert.error_matches(function() d:deposit(F.order { lines = {} }) end,
      "has no deposit hook %(the engine's default applies%)")
  end)

  describe("deposit (P1)", function()
    it("is 10 % of open ship and pickup lines plus uninvoiced shipping", function()
      local order = F.order {
        lines = { F.line(1, "P100", 1, 49900, "ship"), F.line(2, "P200", 4, 8950, "pickup"),
                  F.line(3, "P300", 2, 1500, "carryout") },
        charges = { F.ship_charge(4500) },
      }
      assert.equal(9020, p:deposit(order)) -- (49900 + 35800 + 4500) * 10 %
    end)

    it("leaves out carry-out lines, invoiced quantities and invoiced charges", function()
      local order = F.order {
        lines = { F.line(1, "P100", 3, 1000, "ship", { qty_invoiced = 1 }),
                  F.line(2, "P200", 2, 1000, "pickup", { qty_cancelled = 2 }),
                  F.line(3, "P300", 5, 1000, "carryout") },
        charges = { F.ship_charge(700, true) },
      }
      assert.equal(200, p:deposit(order))
    end)

    it("rounds half away from zero", function()
      local order = F.order { lines = { F.line(1, "P1", 1, 12345, "ship") } }
      assert.equal(1235, p:deposit(order)) -- 1234.5
    end)

    it("is 0 for a B2B customer", function()
      local order = F.order { lines = { F.line(1, "P1", 1, 100000, "ship") }, b2b = true }
      assert.equal(0, p:deposit(order))
    end)

    it("is 0 for a cash-and-carry sale", function()
      local order = F.order { lines = { F.line(1, "P1", 1, 100000, "carryout") } }
      assert.equal(0, p:deposit(order))
    end)
  end)

  it("charges default_shipping_charge per shipment", function()
    local l = F.line(1, "P100", 1, 49900, "ship")
    assert.equal(0, p:shipping_charge(F.shipment { l }, F.order { lines = { l } }))
  end)

  it("charges 5 % of the open lines on cancel (F6), charges not counted", function()
    local order = F.order {
      lines = { F.line(1, "P100", 2, 10000, "ship", { qty_invoiced = 1 }),
                F.line(2, "P200", 1, 5010, "pickup") },
      charges = { F.ship_charge(4500) },
    }
    assert.equal(751, p:cancellation_charge(order)) -- 15010 * 5 % = 750.5
  end)

  describe("shipping_refund (F7)", function()
    local l = F.line(1, "P100", 2, 10000, "ship", { qty_invoiced = 2 })
    local order = F.order {
      lines = { l }, charges = { F.ship_charge(4500, true) },
      invoices = { { id = "S001-000001-1", lines = { { line = 1, qty = 2, amount = 20000 } },
                     charges = 4500, amount = 24500, deposit_applied = 0, paid = 24500 } },
    }

    it("proposes the share the engine computed", function()
      local ret = F.ret { lines = { { line = 1, qty = 1, amount = 10000 } },
                          shipping_charged = 4500, proportional = 2250 }
      assert.equal(2250, p:shipping_refund(ret, order))
    end)

    it("works the share out from the invoice when not given", function()
      local ret = F.ret { lines = { { line = 1, qty = 1, amount = 10000 } },
                          shipping_charged = 4501 }
      assert.equal(2251, p:shipping_refund(ret, order)) -- 2250.5
    end)
  end)

  it("lets managers do everything and nobody else anything (A2)", function()
    for _, perm in ipairs { "deposit_override", "cancellation_charge_override",
                            "shipping_refund_over_limit", "ship", "policy_reload" } do
      assert.is_true(p:permits(F.manager, perm))
      assert.is_false(p:permits(F.cashier, perm))
    end
  end)
end)
