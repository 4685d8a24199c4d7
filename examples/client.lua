#!/usr/bin/env lua5.4
-- client.lua: a corder client in Lua (lua-socket + lua-cjson). Signs in and
-- walks one hybrid order through its life: create (ship + pickup + carry-out
-- lines), a partial pickup by someone the customer sends (a pickup contact),
-- a return, a cancel, printing each step.
--
--   lua5.4 examples/client.lua PORT [HOST]
local socket = require "socket"
local cjson = require "cjson"

local port, host = tonumber(arg[1] or "7420"), arg[2] or "127.0.0.1"
local sock = assert(socket.connect(host, port))
sock:settimeout(30)
local next_id = 0

-- One request, one answer (PROTOCOL.md: a JSON object per line).
local function call(op, args)
    next_id = next_id + 1
    assert(sock:send(cjson.encode({id = next_id, op = op, args = args}) .. "\n"))
    local line = assert(sock:receive("*l"))
    return cjson.decode(line)
end

-- Like call, but when the server says what is due (payment_mismatch), pays
-- it by card and asks again, as a till would.
local function call_paying(op, args)
    local r = call(op, args)
    if not r.ok and r.error.code == "payment_mismatch" then
        local due = r.error.details.due
        print(("  %s: %d due, paying by card"):format(op, due))
        args.payments = due > 0 and {{tender = "card", amount = due}} or nil
        r = call(op, args)
    end
    if not r.ok then
        io.stderr:write(op, " failed: ", r.error.code, ": ", r.error.message, "\n")
        os.exit(1)
    end
    return r.result
end

local function show(step, o)
    print(("%-8s %s  %-18s v%d  total %d  paid %d  refunded %d  balance %d"):format(
        step, o.number, o.status, o.version, o.totals.order, o.paid, o.refunded, o.balance))
    for _, l in ipairs(o.lines) do
        print(("           line %d  %-5s x%d  %-7s %-18s invoiced %d returned %d cancelled %d"):format(
            l.line, l.item, l.qty, l.delivery.mode, l.status, l.qty_invoiced, l.qty_returned,
            l.qty_cancelled))
    end
end

local function date(days) return os.date("!%Y-%m-%d", os.time() + days * 86400) end

local who = call_paying("session.login", {store = "S001", staff = "1001", pin = "1234"})
print(("signed in as %s (%s) at %s"):format(who.name or who.staff, who.role or "?", who.store or "S001"))

local order = call_paying("order.create", {
    customer = "C0001",
    type = "order",
    lines = {
        {item = "P100", qty = 1, delivery = {mode = "ship", address = "home", date = date(7)}},
        {item = "P200", qty = 2, delivery = {mode = "pickup", store = "S001", date = date(2)}},
        {item = "P300", qty = 1, delivery = {mode = "carryout"}},
    },
    -- the customer's neighbour will collect the chairs (SPEC F9)
    pickup_contacts = {{name = "Fleur de Wit", phone = "+31 6 5555 0101"}},
})
show("create", order)

local picked = call_paying("order.pickup", {number = order.number, lines = {{line = 2, qty = 1}},
    collected_by = {name = "fleur de wit", id_checked = true, id_ref = "passport 1234"}})
show("pickup", picked.order)
print(("           invoice %s  amount %d  collected by %s (ID checked: %s)"):format(
    tostring(math.tointeger(picked.invoice.id) or picked.invoice.id), picked.invoice.amount,
    picked.invoice.collected_by.name, tostring(picked.invoice.collected_by.id_checked)))

local ret = call_paying("order.return", {number = order.number, invoice = picked.invoice.id,
    lines = {{line = 2, qty = 1, reason = "damaged"}}})
show("return", ret.order)
print(("           return %s  refund %d"):format(tostring(math.tointeger(ret["return"].id) or ret["return"].id), ret["return"].refund))

local cancelled = call_paying("order.cancel", {number = order.number, reason = "customer changed mind"})
show("cancel", cancelled.order)
print(("           cancellation charge %d (%s)  refund %d"):format(cancelled.cancellation.charge,
    tostring(cancelled.cancellation.code), cancelled.cancellation.refund))
sock:close()
