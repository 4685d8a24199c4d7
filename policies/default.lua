-- default.lua: the engine's default rules (SPEC.md sections 3, 5 F6/F7 and
-- 8 A2), spelled out as a policy file.
--
-- The engine has these rules built in; a store whose policy is "default"
-- gets exactly this behaviour whether or not this file is present. It is
-- here to be copied: save it as policies/NAME.lua, set the store's policy to
-- NAME, and change what differs. Leave out a hook to keep the engine's rule.
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

-- What is still to be delivered of a line: ordered minus invoiced minus
-- cancelled. Returned quantities were invoiced first, so they are not open.
local function open_qty(line)
  local q = line.qty - (line.qty_invoiced or 0) - (line.qty_cancelled or 0)
  return q > 0 and q or 0
end

local function is_shipping_charge(charge, params)
  return charge.kind == "shipping" or charge.code == params.shipping_charge_code
end

-- SPEC P1: the open quantities of ship and pickup lines plus the shipping
-- charges not yet invoiced. Carry-out lines are paid in full at once.
local function deposit_base(order, params)
  local base = 0
  for _, line in ipairs(order.lines or {}) do
    local mode = line.delivery and line.delivery.mode
    if mode == "ship" or mode == "pickup" then
      base = base + open_qty(line) * line.unit_price
    end
  end
  for _, charge in ipairs(order.charges or {}) do
    if is_shipping_charge(charge, params) and not charge.invoiced then
      base = base + charge.amount
    end
  end
  return base
end

-- Deposit the customer must pay before the order is confirmed.
function policy.deposit(order, ctx)
  if order.customer and order.customer.b2b then return 0 end
  return corder.pct(deposit_base(order, ctx.params), ctx.params.default_deposit_pct)
end

-- Shipping charge of one shipment (the ship lines sharing an address and a
-- date): the same flat amount for every shipment.
function policy.shipping_charge(shipment, order, ctx)
  return ctx.params.default_shipping_charge
end

-- SPEC F6: a percentage of the value of the lines still open; charges are
-- not counted.
function policy.cancellation_charge(order, ctx)
  local value = 0
  for _, line in ipairs(order.lines or {}) do
    value = value + open_qty(line) * line.unit_price
  end
  return corder.pct(value, ctx.params.cancellation_charge_pct)
end

-- Value of the goods on one invoice of the order.
local function invoice_value(order, id)
  for _, inv in ipairs(order.invoices or {}) do
    if inv.id == id then
      local v = 0
      for _, l in ipairs(inv.lines or {}) do v = v + l.amount end
      return v
    end
  end
  return 0
end

-- SPEC F7: the shipping charge of the returned lines' shipment in proportion
-- to the value returned. The engine passes that share as ret.proportional;
-- without it, the share is worked out from the invoice the goods came on.
function policy.shipping_refund(ret, order, ctx)
  if not ctx.params.refund_shipping_charges then return 0 end
  if ret.proportional then return ret.proportional end
  local charged, base = ret.shipping_charged or 0, invoice_value(order, ret.invoice)
  if charged <= 0 or base <= 0 then return 0 end
  return corder.muldiv(charged, ret.value, base)
end

-- SPEC T1: tax is left to the engine's built-in rule, computed in C without
-- a call into Lua for every line: tax_pct of a net amount, or the tax part
-- of a gross one when prices_include_tax is on. Spelled out it would read:
--
--   function policy.tax(item, order, ctx)
--     local pct = ctx.params.tax_pct
--     if ctx.params.prices_include_tax then
--       return item.amount - corder.muldiv(item.amount, 100, 100 + pct)
--     end
--     return corder.pct(item.amount, pct)
--   end
--
-- (the engine rounds the tax part itself, half away from zero.)

-- SPEC A2: a manager holds every permission, nobody else holds any.
function policy.permits(staff, permission, ctx)
  return staff.role == "manager"
end

return policy
