-- runaway.lua: a policy that never returns, or eats all memory; the
-- sandbox stops each call and the next call works (sandbox_spec.lua).
return {
  deposit = function()
    while true do end
  end,
  shipping_charge = function()
    while true do pcall(function() while true do end end) end
  end,
  cancellation_charge = function()
    local t = {}
    for i = 1, math.maxinteger do t[i] = ("x"):rep(4096) .. i end
  end,
  permits = function(staff) return staff.role == "manager" end,
}
