-- electronics.lua: the policy of a consumer-electronics retailer. Most
-- goods are stock; a few are ordered in for one customer (special order
-- items) and cannot be sold to anyone else.
--
--   deposit              special-order items are paid in full up front,
--                        even by B2B customers; the rest of the deposit
--                        base pays default_deposit_pct (B2B: nothing)
--   shipping_charge      a flat charge per shipment, free from
--                        free_shipping_from
--   cancellation_charge  cancellation_charge_pct of the open stock lines
--                        plus special_order_cancellation_pct (restocking)
--                        of the open special-order lines
--   shipping_refund      only for goods returned as "damaged": the share of
--                        the shipping that the damaged goods carried
--   permits              managers everything; supervisors may override a
--                        deposit and approve shipping refunds over the
--                        limit; the warehouse ships
--   tax                  prices exclude VAT: 21 % on top, 9 % for the
--                        reduced-rate group (books and e-readers'
--                        content); charges at the standard rate
--
-- Tested by tests/policies/electronics_spec.lua.

local policy = {}

policy.parameters = {
  default_deposit_pct     = 15,
  cancellation_charge_pct = 0,      -- stock goods go back on the shelf
  refund_shipping_charges = true,
  default_shipping_charge = 995,
  manual_shipping_charge  = true,
  max_shipping_refund_without_approval = 995,

  -- This retailer's own parameters.
  special_order_items = { "TV-OLED-88", "FRIDGE-SXS-PRO", "PROJ-4K-LASER" },
  special_order_deposit_pct = 100,
  special_order_cancellation_pct = 25,
  free_shipping_from = 50000,
  tax_pct = 21,
  prices_include_tax = false,
  reduced_rate_items = { "EBOOK-BUNDLE", "MANUAL-PRINT" },
  reduced_tax_pct = 9,
}

-- A set from the list, made once per call (ctx.params is a fresh copy).
local function special_set(params)
  local set = {}
  for _, item in ipairs(params.special_order_items or {}) do set[item] = true end
  return set
end

local function open_qty(line)
  local q = line.qty - (line.qty_invoiced or 0) - (line.qty_cancelled or 0)
  return q > 0 and q or 0
end

function policy.deposit(order, ctx)
  local p, special = ctx.params, special_set(ctx.params)
  local special_value, base = 0, 0
  for _, line in ipairs(order.lines or {}) do
    local mode = line.delivery and line.delivery.mode
    if mode == "ship" or mode == "pickup" then
      local value = open_qty(line) * line.unit_price
      if special[line.item] then
        special_value = special_value + value
      else
        base = base + value
      end
    end
  end
  for _, c in ipairs(order.charges or {}) do
    if (c.kind == "shipping" or c.code == p.shipping_charge_code) and not c.invoiced then
      base = base + c.amount
    end
  end
  local deposit = corder.pct(special_value, p.special_order_deposit_pct)
  if not (order.customer and order.customer.b2b) then
    deposit = deposit + corder.pct(base, p.default_deposit_pct)
  end
  return deposit
end

function policy.shipping_charge(shipment, order, ctx)
  if shipment.value >= ctx.params.free_shipping_from then return 0 end
  return ctx.params.default_shipping_charge
end

function policy.cancellation_charge(order, ctx)
  local p, special = ctx.params, special_set(ctx.params)
  local stock, special_open = 0, 0
  for _, line in ipairs(order.lines or {}) do
    local value = open_qty(line) * line.unit_price
    if special[line.item] then
      special_open = special_open + value
    else
      stock = stock + value
    end
  end
  return corder.pct(stock, p.cancellation_charge_pct)
      + corder.pct(special_open, p.special_order_cancellation_pct)
end

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

-- The engine passes ret.proportional, the shipping share of everything
-- returned; the damaged goods get their part of it by value.
function policy.shipping_refund(ret, order, ctx)
  if not ctx.params.refund_shipping_charges then return 0 end
  local damaged = 0
  for _, l in ipairs(ret.lines or {}) do
    if l.reason == "damaged" then damaged = damaged + l.amount end
  end
  if damaged == 0 or (ret.value or 0) <= 0 then return 0 end
  if ret.proportional then return corder.muldiv(ret.proportional, damaged, ret.value) end
  local base = invoice_value(order, ret.invoice)
  if base <= 0 or (ret.shipping_charged or 0) <= 0 then return 0 end
  return corder.muldiv(ret.shipping_charged, damaged, base)
end

local grants = {
  manager = "*",
  supervisor = { deposit_override = true, shipping_refund_over_limit = true },
  warehouse = { ship = true },
}

function policy.permits(staff, permission, ctx)
  local g = grants[staff.role]
  return g == "*" or (type(g) == "table" and g[permission] == true)
end

-- VAT on top of the price: the reduced rate for the reduced-rate group,
-- the standard rate for everything else, charges included.
function policy.tax(item, order, ctx)
  local pct = ctx.params.tax_pct
  if item.kind == "line" then
    for _, it in ipairs(ctx.params.reduced_rate_items) do
      if it == item.item then pct = ctx.params.reduced_tax_pct end
    end
  end
  return corder.pct(item.amount, pct)
end

return policy
