-- furniture.lua: the policy of a furniture retailer. Big tickets, made to
-- order, delivered by the store's own van.
--
--   deposit              tiers by order value: the larger the order, the
--                        larger the share paid up front (10 / 20 / 30 %);
--                        B2B customers pay none
--   shipping_charge      free from free_shipping_from per shipment, else a
--                        flat van charge; clerks may not type their own
--   cancellation_charge  15 % of the open lines, but nothing within
--                        cancellation_grace_hours of the order's creation
--   shipping_refund      the proportional share, rounded down to whole
--                        currency units (the van came anyway)
--   permits              managers everything; a store lead may override the
--                        deposit; the warehouse ships
--   tax                  prices include Dutch VAT (21 %); a shipment to a
--                        country in destination_vat is taxed at that
--                        country's rate instead (distance selling in the EU)
--
-- Tested by tests/policies/furniture_spec.lua.

local policy = {}

policy.parameters = {
  default_deposit_pct      = 10,    -- lowest tier, also what policy.info shows
  cancellation_charge_pct  = 15,
  refund_shipping_charges  = true,
  manual_shipping_charge   = false, -- the van charge is not negotiable
  default_shipping_charge  = 7500,  -- per shipment below the threshold
  quote_validity_days      = 14,
  max_shipping_refund_without_approval = 7500,

  -- This retailer's own parameters (the engine keeps them for ctx.params).
  -- Order value up to `upto` (minor units) pays `pct`; the last tier has no cap.
  deposit_tiers = {
    { upto = 100000, pct = 10 },
    { upto = 500000, pct = 20 },
    { pct = 30 },
  },
  free_shipping_from       = 150000, -- shipment value from which the van is free
  tax_pct                  = 21,     -- NL VAT, included in every price
  prices_include_tax       = true,
  destination_vat          = { BE = 21, DE = 19, LU = 17 },
  cancellation_grace_hours = 24,
}

local function open_qty(line)
  local q = line.qty - (line.qty_invoiced or 0) - (line.qty_cancelled or 0)
  return q > 0 and q or 0
end

-- Value of what the customer ordered and did not cancel.
local function order_value(order)
  local v = 0
  for _, line in ipairs(order.lines or {}) do
    v = v + (line.qty - (line.qty_cancelled or 0)) * line.unit_price
  end
  return v
end

-- SPEC P1's base: open ship and pickup lines plus uninvoiced shipping.
local function deposit_base(order, params)
  local base = 0
  for _, line in ipairs(order.lines or {}) do
    local mode = line.delivery and line.delivery.mode
    if mode == "ship" or mode == "pickup" then base = base + open_qty(line) * line.unit_price end
  end
  for _, c in ipairs(order.charges or {}) do
    if (c.kind == "shipping" or c.code == params.shipping_charge_code) and not c.invoiced then
      base = base + c.amount
    end
  end
  return base
end

local function tier_pct(value, tiers)
  for _, tier in ipairs(tiers) do
    if tier.upto == nil or value <= tier.upto then return tier.pct end
  end
  return tiers[#tiers].pct
end

function policy.deposit(order, ctx)
  if order.customer and order.customer.b2b then return 0 end
  local pct = tier_pct(order_value(order), ctx.params.deposit_tiers)
  return corder.pct(deposit_base(order, ctx.params), pct)
end

function policy.shipping_charge(shipment, order, ctx)
  if shipment.value >= ctx.params.free_shipping_from then return 0 end
  return ctx.params.default_shipping_charge
end

-- "2024-05-01T10:00:00Z" (or with a +02:00 offset) to epoch seconds, in
-- pure arithmetic: os.time would read the table as local time.
local function epoch(iso)
  local y, m, d, H, M, S, rest = iso:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(.*)$")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
  local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
  local t = days * 86400 + tonumber(H) * 3600 + tonumber(M) * 60 + tonumber(S)
  local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)")
  if sign then
    local off = tonumber(oh) * 3600 + tonumber(om) * 60
    t = sign == "+" and t - off or t + off
  end
  return t
end

function policy.cancellation_charge(order, ctx)
  local created = order.created_at and epoch(order.created_at)
  local now = ctx.now and epoch(ctx.now) or os.time()
  if created and now - created < ctx.params.cancellation_grace_hours * 3600 then return 0 end
  local open = 0
  for _, line in ipairs(order.lines or {}) do open = open + open_qty(line) * line.unit_price end
  return corder.pct(open, ctx.params.cancellation_charge_pct)
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

function policy.shipping_refund(ret, order, ctx)
  if not ctx.params.refund_shipping_charges then return 0 end
  local share = ret.proportional
  if not share then
    local base = invoice_value(order, ret.invoice)
    if base <= 0 or (ret.shipping_charged or 0) <= 0 then return 0 end
    share = corder.muldiv(ret.shipping_charged, ret.value, base)
  end
  return share - share % 100 -- whole currency units, rounded down
end

local grants = {
  manager = "*",
  store_lead = { deposit_override = true },
  warehouse = { ship = true },
}

function policy.permits(staff, permission, ctx)
  local g = grants[staff.role]
  return g == "*" or (type(g) == "table" and g[permission] == true)
end

-- VAT by where the goods go: the rate of the destination country for a
-- shipment abroad, the store's own rate otherwise. Prices include it, so
-- the tax is the part of the amount that is VAT.
function policy.tax(item, order, ctx)
  local pct = ctx.params.tax_pct
  local dest = item.destination or {}
  if dest.mode == "ship" and dest.country and dest.country ~= "NL" then
    pct = ctx.params.destination_vat[dest.country] or pct
  end
  return item.amount - corder.muldiv(item.amount, 100, 100 + pct)
end

return policy
