-- budget_spec.lua: SPEC L2, "bounded instructions per call", holds for the
-- library functions a policy can call, not only for Lua code. Each attack
-- of fixtures/budget_attacks.lua (a C library call that ran for seconds
-- inside one hook call before policy_bounded.c and policy_match.c) must
-- fail that call with the budget error, naming the file and line, well
-- within a second (the budget is 50 ms; the bound is generous because
-- machines are noisy), and the policy must answer the next call.
local corder = require "corder"
local socket = require "socket"

local FILE = "tests/policies/fixtures/budget_attacks.lua"
local A = dofile(FILE).attacks
-- Wall-clock, on a machine that may be running other builds: twice the
-- bound under the sanitizers' slowdown. Without the bounded functions these
-- attacks took many seconds.
local BOUND = os.getenv("CORDER_SANITIZED") == "1" and 2.0 or 1.0

-- Runs one attack in a fresh copy of the policy (an attack may leave
-- garbage behind); returns ok, the error, the seconds it took, the policy.
local function attack(name)
  local p = corder.load_policy(FILE)
  local t0 = socket.gettime()
  local ok, err = pcall(p.deposit, p, { attack = name })
  return ok, err, socket.gettime() - t0, p
end

local answered = {
  ["string.rep('', 1e15)"] = true, -- nothing to repeat: "" at once
  ["string.rep, a big result"] = true, -- refused at once: over the memory cap
}

describe("SPEC L2: the hook call's budget bounds every library function", function()
  local names = {}
  for name in pairs(A) do
    if not answered[name] then names[#names + 1] = name end
  end
  table.sort(names)

  for _, name in ipairs(names) do
    it(("stops %s within the budget"):format(name), function()
      local ok, err, took, p = attack(name)
      assert.is_false(ok, name .. " was not stopped")
      assert.matches("policy_error: .*budget_attacks%.lua:%d+: instruction budget exceeded %(50 ms%)", err)
      assert.is_true(took < BOUND, ("%s took %.3f s"):format(name, took))
      assert.equal(0, p:deposit({ attack = "string.rep('', 1e15)" }))
    end)
  end

  it("answers string.rep('', 1e15) at once", function()
    local ok, err, took = attack("string.rep('', 1e15)")
    assert.is_true(ok, err)
    assert.is_true(took < BOUND, ("took %.3f s"):format(took))
  end)

  it("refuses a string.rep over the memory cap at once", function()
    local ok, err, took = attack("string.rep, a big result")
    assert.is_false(ok)
    assert.matches("budget_attacks%.lua:%d+: string%.rep: result larger than the policy memory cap", err)
    assert.is_true(took < BOUND, ("took %.3f s"):format(took))
  end)
end)
