local p = {parameters = {default_deposit_pct = 25, manual_shipping_charge = false}}
function p.deposit(o, ctx) return corder.pct(o.totals.open, ctx.params.default_deposit_pct) end
function p.permits(s, perm) return s.role == "manager" or perm == "ship" end
return p
