-- fixture.lua: shared set-up for the engine specs (tests/spec/): a fresh
-- database seeded from examples/seed.json, opened through the corder Lua
-- module, with the repo's policies or a policy written for the spec.
local corder = require "corder"

local M = {}
M.root = os.getenv("CORDER_ROOT") or "."

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end
M.write = write

-- Every directory made here goes when the spec's Lua state closes (busted
-- ends with os.exit(code, true), which runs finalizers): a run of the
-- specs leaves nothing in /tmp (it had left a directory with a database
-- per spec, some 200 a run).
local made = {}
M.made_gone = setmetatable({}, {__gc = function()
  if #made == 0 then return end
  local q = {}
  for i, d in ipairs(made) do q[i] = "'" .. d:gsub("'", "'\\''") .. "'" end
  os.execute("rm -rf " .. table.concat(q, " "))
end})

function M.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. d))
  made[#made + 1] = d
  return d
end

-- opts.policy: Lua source used as every store's "default" policy.
-- opts.params: parameters only (hooks fall back to the engine's defaults).
-- opts.policies: {NAME = source, ...}: more policy files, next to the
-- repo's default.lua (or opts.policy), for stores that name them.
-- opts.seed: a function given the seed (examples/seed.json as a table) to
-- change it, e.g. to give a store its own policy or add staff.
function M.open(opts)
  opts = opts or {}
  local dir = M.tmpdir()
  local pdir = M.root .. "/policies"
  local seed = M.root .. "/examples/seed.json"
  if opts.seed then
    local cjson = require "cjson"
    local f = assert(io.open(seed))
    local t = cjson.decode(f:read("a"))
    f:close()
    opts.seed(t)
    seed = dir .. "/seed.json"
    write(seed, cjson.encode(t))
  end
  local src = opts.policy
  if opts.params then
    local parts = {}
    for k, v in pairs(opts.params) do
      parts[#parts + 1] = string.format("%s = %s", k, type(v) == "string" and string.format("%q", v) or tostring(v))
    end
    src = "return { parameters = { " .. table.concat(parts, ", ") .. " } }\n"
  end
  if src or opts.policies then
    if not src then
      local f = assert(io.open(pdir .. "/default.lua"))
      src = f:read("a")
      f:close()
    end
    pdir = dir .. "/policies"
    assert(os.execute("mkdir -p " .. pdir))
    write(pdir .. "/default.lua", src)
    for name, text in pairs(opts.policies or {}) do write(pdir .. "/" .. name .. ".lua", text) end
  end
  local db = assert(corder.open{db = dir .. "/t.db", policies = pdir, seed = seed})
  return db, dir, pdir
end

-- A date n days from today in the stores' zone (examples/seed.json puts
-- them all in Europe/Amsterdam): the engine counts a quote's validity from
-- the store's today, and between 23:00 and midnight UTC that is already
-- tomorrow (P7 once failed there). The zone's offset comes from date(1),
-- which reads the same tzdata as the engine; without tzdata both use UTC.
local offset -- asked once per run: date(1) is a process per call
local function zone_offset()
  if offset then return offset end
  local p = io.popen("TZ=Europe/Amsterdam date +%z")
  local z = p and p:read("l") or "+0000"
  if p then p:close() end
  local sign, h, m = z:match("^([+-])(%d%d)(%d%d)$")
  offset = sign and (sign == "-" and -1 or 1) * (tonumber(h) * 3600 + tonumber(m) * 60) or 0
  return offset
end

function M.date(n)
  return os.date("!%Y-%m-%d", os.time() + zone_offset() + n * 86400)
end

function M.ship(address, days) return {mode = "ship", address = address or "home", date = M.date(days or 40)} end
function M.pickup(store, days) return {mode = "pickup", store = store or "S001", date = M.date(days or 30)} end
function M.carry() return {mode = "carryout"} end
function M.cash(amount) return {{tender = "card", amount = amount}} end

-- Calls op; on payment_mismatch pays exactly details.due and calls again.
function M.paying(s, op, args)
  local r, err = s:call(op, args)
  if not r and err.code == "payment_mismatch" then
    args.payments = err.details.due > 0 and M.cash(err.details.due) or nil
    r, err = s:call(op, args)
  end
  return r, err
end

-- Everything a failed request must leave as it was.
function M.snapshot(db)
  local parts = {}
  for _, q in ipairs{
    "SELECT number, version, status, doc FROM orders ORDER BY number",
    "SELECT count(*), max(seq) FROM txlog", "SELECT count(*), max(seq) FROM outbox",
    "SELECT name, value FROM counters ORDER BY name",
    "SELECT count(*) FROM customers", "SELECT count(*) FROM addresses",
    "SELECT count(*) FROM idempotency", "SELECT count(*), max(version) FROM order_docs"} do
    for _, row in ipairs(db:query(q)) do
      for i = 1, #row do parts[#parts + 1] = tostring(row[i]) end
    end
  end
  return table.concat(parts, "|")
end

local function sum(list, f)
  local t = 0
  for _, x in ipairs(list or {}) do t = t + f(x) end
  return t
end
M.sum = sum

-- The money and quantity invariants of an order object (issue 2, item 8).
-- Returns nil when they hold, else a message.
function M.invariant_error(o)
  local function bad(fmt, ...) return string.format("%s: " .. fmt, o.number, ...) end
  if o.balance ~= o.totals.order - (o.paid - o.refunded) then return bad("balance %d ~= order %d - (paid %d - refunded %d)", o.balance, o.totals.order, o.paid, o.refunded) end
  if o.balance < 0 then return bad("negative balance %d", o.balance) end
  if o.on_account < 0 then return bad("negative on_account %d", o.on_account) end
  local ret = sum(o.returns, function(r) return r.refund end)
  for _, r in ipairs(o.returns) do
    local want = r.product_refund + r.shipping_refund + (o.prices_include_tax and 0 or (r.tax_refund or 0))
    if r.refund ~= want then return bad("return %d refund %d ~= goods + shipping (+ tax when on top) %d", r.id, r.refund, want) end
  end
  local inv = sum(o.invoices, function(i) return i.amount end)
  if o.on_account ~= o.paid - o.refunded - inv + ret then return bad("on_account %d ~= paid - refunded - invoiced + returned", o.on_account) end
  for _, i in ipairs(o.invoices) do
    if i.amount ~= i.deposit_applied + i.paid then return bad("invoice %d amount ~= deposit_applied + paid", i.id) end
    if i.deposit_applied < 0 or i.paid < 0 then return bad("invoice %d negative parts", i.id) end
    local goods = sum(i.lines, function(l) return l.amount end)
    if i.amount ~= goods + i.charges then return bad("invoice %d amount %d ~= goods %d + charges %d", i.id, i.amount, goods, i.charges) end
    for _, l in ipairs(i.lines) do
      if l.qty_returned > l.qty then return bad("invoice %d line %d returned more than invoiced", i.id, l.line) end
    end
  end
  for _, l in ipairs(o.lines) do
    local open = l.qty - l.qty_invoiced - l.qty_cancelled
    if open < 0 then return bad("line %d open %d < 0", l.line, open) end
    if l.qty_returned > l.qty_invoiced then return bad("line %d returned %d > invoiced %d", l.line, l.qty_returned, l.qty_invoiced) end
    local invoiced = 0
    for _, i in ipairs(o.invoices) do
      for _, il in ipairs(i.lines) do if il.line == l.line then invoiced = invoiced + il.qty end end
    end
    if invoiced ~= l.qty_invoiced then return bad("line %d invoices hold %d, line says %d", l.line, invoiced, l.qty_invoiced) end
    -- T3: over all returns, a line never gives back more tax than its invoices took
    local tax_in, tax_out = 0, 0
    for _, i in ipairs(o.invoices) do
      for _, il in ipairs(i.lines) do if il.line == l.line then tax_in = tax_in + (il.tax or 0) end end
    end
    for _, r in ipairs(o.returns) do
      for _, rl in ipairs(r.lines) do if rl.line == l.line then tax_out = tax_out + (rl.tax or 0) end end
    end
    if tax_out > tax_in then return bad("line %d returned tax %d > invoiced tax %d", l.line, tax_out, tax_in) end
    if l.status == "invoiced" and l.qty_cancelled == 0 and tax_in ~= (l.tax or 0) then
      return bad("line %d fully invoiced: invoices' tax %d ~= line tax %d", l.line, tax_in, l.tax or 0)
    end
  end
  return nil
end

return M
