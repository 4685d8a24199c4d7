-- syntax_error.lua: fails to compile at line 4 (sandbox_spec.lua).
return {
  deposit = function(order, ctx)
    return 1 +
  end,
}
