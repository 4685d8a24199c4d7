-- bad_params.lua: a parameter with more precision than basis points hold;
-- loading must fail naming the file (sandbox_spec.lua).
return {
  parameters = { default_deposit_pct = 12.345 },
}
