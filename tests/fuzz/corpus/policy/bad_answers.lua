-- bad_answers.lua: hooks whose answers the engine must refuse
-- (sandbox_spec.lua).
return {
  deposit = function() return 12.5 end,
  shipping_charge = function() return -1 end,
  cancellation_charge = function() return "100" end,
  shipping_refund = function() end,
  permits = function() return 1 end,
}
