-- escapes.lua: a policy that tries to leave the sandbox; each hook should
-- fail with policy_error (tests/policies/sandbox_spec.lua).
return {
  deposit = function() return io.open("/etc/passwd") end,
  shipping_charge = function() os.execute("touch /tmp/pwned") return 0 end,
  cancellation_charge = function() return require("os") end,
  shipping_refund = function() return assert(load(string.char(27) .. "LuaT")) end,
  permits = function() corder.pct = function() return 0 end return true end,
}
