#!lua name=corder_bench_peer
--[[ redis_orders.lua: the Redis peer of `make bench`, a Redis 7 Function
library that takes the bench's customer order the way corder's order.create
does (tests/bench/peers/README.md says what the workload is and why).

  FCALL create_order 0 '<request json>'   -> '{"order":…,"deposit":…,…}'

The request is corder's order.create arguments plus "store" (a Redis client
has no session): {"store","customer","type","lines":[{item, qty,
delivery:{mode, address|store, date}}], "payments":[{tender, amount}]}.

Keys (reference data from tests/bench/seed.json, written by redis_peer.sh):
  store:<id>                  hash   name
  customer:<account>          hash   name email phone
  customer:<account>:address  hash   <label> -> "street, city"
  product:<item>              hash   name price
Keys an order writes:
  counter:order:<store>       INCR   the store's order numbers (S001-000001)
  counter:invoice:<store>     INCR   the store's invoice numbers
  order:<number>              hash   header and money
  order:<number>:line:<n>     hash   one per line
  order:<number>:charge:<n>   hash   one shipping charge per shipment
  order:<number>:payment:<n>  hash   one per tender
  invoice:<store>:<n>         hash   the carry-out invoice
  txlog                       stream the request as received, per order
  outbox:<store>              list   the event for HQ (JSON)

Redis runs a function to its end without other clients in between, but it
does not undo the writes of a function that fails halfway: so every check
comes first and the writes begin only when nothing can fail. Money is in
integer minor units; Lua 5.1 numbers are doubles, exact below 2^53, and
amounts are bounded well below that. ]]

local SHIPPING_PER_SHIPMENT = 995 -- the retailer's charge per shipment
local DEPOSIT_PERCENT = 20 -- of the open ship and pickup goods + shipping
local MAX_LINES = 200
local MAX_QTY = 100000
local MAX_AMOUNT = 1e12

-- (while the library loads, Redis 7 offers no globals but redis: math is
-- reached only when a function runs)
local function floor(x) return math.floor(x) end

local function refuse(fmt, ...)
  return redis.error_reply('REFUSED ' .. string.format(fmt, ...))
end

local function whole(v, max)
  return type(v) == 'number' and v == floor(v) and v > 0 and v <= max
end

-- "YYYY-MM-DD" -> days since 1970-01-01, nil when not a calendar date.
local month_days = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
local function day_number(text)
  if type(text) ~= 'string' then return nil end
  local y, m, d = text:match('^(%d%d%d%d)%-(%d%d)%-(%d%d)$')
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  if m < 1 or m > 12 or d < 1 or d > month_days[m] + ((m == 2 and leap) and 1 or 0) then
    return nil
  end
  -- days from 0000-03-01, years starting in March so that Feb 29 comes last
  if m <= 2 then y = y - 1 end
  local mar = (m + 9) % 12
  local yday = floor((153 * mar + 2) / 5) + d - 1
  return y * 365 + floor(y / 4) - floor(y / 100) + floor(y / 400) + yday - 719468
end

-- n% of an amount, rounded half away from zero (amounts here are >= 0).
local function percent(amount, n)
  return floor((amount * n + 50) / 100)
end

local function create_order(keys, args)
  local text = args[1]
  local okjson, req = pcall(cjson.decode, text or '')
  if not okjson or type(req) ~= 'table' then return refuse('the request is not a JSON object') end
  local store, account = req.store, req.customer
  if type(store) ~= 'string' or redis.call('EXISTS', 'store:' .. store) == 0 then
    return refuse('unknown store %s', tostring(store))
  end
  if type(account) ~= 'string' or redis.call('EXISTS', 'customer:' .. account) == 0 then
    return refuse('unknown customer %s', tostring(account))
  end
  local kind = req.type == nil and 'order' or req.type
  if kind ~= 'order' then return refuse('type must be order') end
  local lines = req.lines
  if type(lines) ~= 'table' or #lines == 0 or #lines > MAX_LINES then
    return refuse('lines: 1 to %d lines', MAX_LINES)
  end

  -- every check and every amount, before anything is written
  local today = floor(tonumber(redis.call('TIME')[1]) / 86400)
  local rows, shipments, shipment_of = {}, {}, {}
  local open_goods, carried, carried_lines = 0, 0, {}
  for n, line in ipairs(lines) do
    if type(line) ~= 'table' then return refuse('line %d: not an object', n) end
    local item, qty = line.item, line.qty
    if not whole(qty, MAX_QTY) then return refuse('line %d: qty must be 1 to %d', n, MAX_QTY) end
    local product = type(item) == 'string' and redis.call('HMGET', 'product:' .. item, 'name', 'price')
    if not product or not product[2] then return refuse('line %d: unknown item %s', n, tostring(item)) end
    local price = tonumber(product[2])
    local amount = price * qty
    local delivery = type(line.delivery) == 'table' and line.delivery or {}
    local row = { 'item', item, 'name', product[1], 'qty', qty, 'unit_price', price,
                  'amount', amount, 'mode', tostring(delivery.mode) }
    if delivery.mode == 'ship' or delivery.mode == 'pickup' then
      local day = day_number(delivery.date)
      if not day or day <= today then return refuse('line %d: the date must be after today', n) end
      if delivery.mode == 'ship' then
        local label = delivery.address
        if type(label) ~= 'string' or
            redis.call('HEXISTS', 'customer:' .. account .. ':address', label) == 0 then
          return refuse('line %d: %s has no address %s', n, account, tostring(label))
        end
        local key = label .. '@' .. delivery.date
        if not shipment_of[key] then
          shipments[#shipments + 1] = { label, delivery.date }
          shipment_of[key] = #shipments
        end
        for _, v in ipairs({ 'address', label, 'date', delivery.date, 'shipment', shipment_of[key] }) do
          row[#row + 1] = v
        end
      else
        local at = delivery.store
        if type(at) ~= 'string' or redis.call('EXISTS', 'store:' .. at) == 0 then
          return refuse('line %d: unknown pickup store %s', n, tostring(at))
        end
        for _, v in ipairs({ 'store', at, 'date', delivery.date }) do row[#row + 1] = v end
      end
      open_goods = open_goods + amount
      row[#row + 1], row[#row + 2] = 'status', 'open'
    elseif delivery.mode == 'carryout' then
      carried = carried + amount
      carried_lines[#carried_lines + 1] = n
      row[#row + 1], row[#row + 2] = 'status', 'invoiced'
    else
      return refuse('line %d: delivery mode must be ship, pickup or carryout', n)
    end
    rows[n] = row
  end
  local shipping = SHIPPING_PER_SHIPMENT * #shipments
  local deposit = percent(open_goods + shipping, DEPOSIT_PERCENT)
  local total = open_goods + carried + shipping
  local payments = req.payments
  if type(payments) ~= 'table' or #payments == 0 then return refuse('payments: at least one') end
  local paid = 0
  for i, p in ipairs(payments) do
    if type(p) ~= 'table' or type(p.tender) ~= 'string' or p.tender == '' then
      return refuse('payment %d: tender required', i)
    end
    if not whole(p.amount, MAX_AMOUNT) then return refuse('payment %d: amount must be above 0', i) end
    paid = paid + p.amount
  end
  local due = deposit + carried
  if paid < due or paid > total then
    return refuse('payments of %d must be at least the %d due and at most the order total %d',
      paid, due, total)
  end

  -- the writes: nothing below can be refused
  local number = string.format('%s-%06d', store, redis.call('INCR', 'counter:order:' .. store))
  local now = redis.call('TIME')[1]
  local key = 'order:' .. number
  redis.call('HSET', key, 'store', store, 'customer', account, 'type', kind, 'status', 'open',
    'created_at', now, 'lines', #rows, 'goods', open_goods + carried, 'shipping', shipping,
    'deposit', deposit, 'invoiced', carried, 'paid', paid, 'balance', total - paid)
  for n, row in ipairs(rows) do
    redis.call('HSET', key .. ':line:' .. n, unpack(row))
  end
  for n, s in ipairs(shipments) do
    redis.call('HSET', key .. ':charge:' .. n, 'code', 'SHIP', 'kind', 'shipping',
      'amount', SHIPPING_PER_SHIPMENT, 'address', s[1], 'date', s[2], 'invoiced', 0)
  end
  for n, p in ipairs(payments) do
    redis.call('HSET', key .. ':payment:' .. n, 'tender', p.tender, 'amount', p.amount, 'at', now)
  end
  local invoice = cjson.null
  if carried > 0 then
    invoice = redis.call('INCR', 'counter:invoice:' .. store)
    redis.call('HSET', 'invoice:' .. store .. ':' .. invoice, 'order', number, 'kind', 'carryout',
      'lines', table.concat(carried_lines, ' '), 'amount', carried, 'paid', carried, 'at', now)
  end
  redis.call('XADD', 'txlog', '*', 'op', 'order.create', 'store', store, 'order', number,
    'request', text)
  local answer = cjson.encode({ order = number, shipping = shipping, deposit = deposit,
    invoice = invoice, invoiced = carried, paid = paid, balance = total - paid })
  redis.call('RPUSH', 'outbox:' .. store, '{"type":"order.create","order":"' .. number ..
    '","customer":' .. cjson.encode(account) .. ',"result":' .. answer .. '}')
  return answer
end

redis.register_function('create_order', create_order)
