-- default.lua: the engine's default rules (SPEC.md sections 3, 5 F6/F7 and
-- 8 A2) as a policy file: the parameters, and no hook.
--
-- Every hook is optional, and one left out is answered by the engine's own
-- rule, computed in C without a call into Lua. This file leaves them all
-- out, so a store on "default" never runs Lua for a decision; its rules
-- are exactly the ones below. To change one, copy this file to
-- policies/NAME.lua, set the store's policy to NAME, change a parameter or
-- write the hook that differs. tests/policies/fixtures/spelled_out.lua has
-- the default rules written out as hooks, to start from.
-- See policies/README.md for the contract, the helpers and how to test.
--
-- Money is integers in minor units (cents) everywhere: never return a float.
-- corder.pct(amount, pct) takes a percentage exactly and rounds half away
-- from zero; corder.muldiv(a, num, den) is a * num / den, rounded the same.

local policy = {}

policy.parameters = {
  default_deposit_pct                  = 10,       -- % of the deposit base (SPEC P1)
  cancellation_charge_pct              = 5,        -- % of the open lines' value (P3)
  cancellation_charge_code             = "CANCEL", -- charge code of the cancellation charge
  shipping_charge_code                 = "SHIP",   -- charge code of shipping charges (P4)
  refund_shipping_charges              = true,     -- shipping refunded on returns (P5)
  max_shipping_refund_without_approval = 2500,     -- minor units, per order (P6)
  quote_validity_days                  = 30,       -- when a quote has no date (P7)
  manual_shipping_charge               = true,     -- clerks may type the charge
  default_shipping_charge              = 0,        -- per shipment, when none is typed
  require_collector                    = false,    -- a pickup must say who collected (F9)
  tax_pct                              = 0,        -- the default tax rate (T1)
  prices_include_tax                   = false,    -- prices and charges are net of tax (T1)
  refund_tenders                       = nil,      -- R2: nil = the order's tenders + store_credit;
                                                   -- or a list, e.g. { "cash", "card", "store_credit" }
}

-- The rules the engine applies for the hooks left out:
--
--   deposit(order, ctx)              P1: default_deposit_pct of the open
--       quantities of ship and pickup lines plus the shipping charges not
--       yet invoiced (order.deposit.base); 0 for a B2B customer.
--   shipping_charge(shipment, order, ctx)   default_shipping_charge.
--   cancellation_charge(order, ctx)  F6: cancellation_charge_pct of the
--       value of the lines still open (order.totals.open); charges not counted.
--   shipping_refund(ret, order, ctx) F7: the shipment's charge in
--       proportion to the value returned (ret.proportional), or 0 when
--       refund_shipping_charges is off.
--   tax(item, order, ctx)            T1: tax_pct of a net amount, or the tax
--       part of a gross one when prices_include_tax is on.
--   permits(staff, permission, ctx)  A2: a manager holds every permission,
--       nobody else holds any.

return policy
