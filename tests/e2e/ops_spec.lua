-- ops_spec.lua: every op of PROTOCOL.md and every error code, end to end
-- over TCP, with the error-code ranking ("the first that applies").
local e2e = require "e2e"
local cjson = require "cjson"

local function err(r, code)
    assert.is_false(r.ok, "expected " .. code .. ", got ok: " .. cjson.encode(r))
    assert.are.equal(code, r.error.code, cjson.encode(r.error))
    assert.is_string(r.error.message)
    return r.error
end

describe("ops", function()
    local srv, cashier, manager
    setup(function()
        srv = e2e.server()
        cashier = srv:connect()
        cashier:login("S001", "1001", "1234")
        manager = srv:connect()
        manager:login("S001", "1002", "9999")
    end)
    teardown(function() srv:cleanup() end)

    describe("error ranking", function()
        it("bad_request before unknown_op", function()
            local c = srv:connect()
            c:send_raw('{"id":1,"op":"no.such","args":5}\n')
            err(assert(c:recv()), "bad_request")
        end)
        it("unknown_op before unauthenticated", function()
            err(srv:connect():call("no.such.op", {}), "unknown_op")
        end)
        it("bad_request before unauthenticated", function()
            err(srv:connect():call("order.get", {}), "bad_request")
        end)
        it("unauthenticated before not_found", function()
            err(srv:connect():call("order.get", {number = "S001-NOPE"}), "unauthenticated")
        end)
        it("forbidden: staff of another store", function()
            local c = srv:connect()
            err(c:call("session.login", {store = "S001", staff = "1003", pin = "5555"}), "forbidden")
        end)
        it("unauthenticated before forbidden: wrong PIN at a foreign store", function()
            local c = srv:connect()
            err(c:call("session.login", {store = "S001", staff = "1003", pin = "0000"}), "unauthenticated")
        end)
        it("not_found before validation", function()
            local o = e2e.hybrid_order()
            o.customer = "C9999"
            o.lines[1].qty = 0
            err(cashier:call("order.preview", o), "not_found")
        end)
    end)

    describe("customers", function()
        it("creates, reads and adds addresses", function()
            local r = cashier:ok("customer.create", {name = "Jan", email = "j@example.com",
                addresses = {{street = "Dam 2", city = "Amsterdam", zip = "1012", country = "NL"}}})
            assert.is_string(r.account)
            local a = cashier:ok("customer.add_address", {account = r.account,
                address = {street = "Kade 3", city = "Utrecht", zip = "3511", country = "NL"}})
            assert.is_not_nil(a.id)
            local cu = cashier:ok("customer.get", {account = r.account})
            assert.are.equal("Jan", cu.name)
            assert.are.equal(2, #cu.addresses)
        end)
        it("not_found for an unknown account", function()
            err(cashier:call("customer.get", {account = "C-NONE"}), "not_found")
        end)
        it("validation names the field", function()
            local e = err(cashier:call("customer.create", {name = ""}), "validation")
            assert.are.equal("name", e.details and e.details.field)
        end)
        it("refuses a blank name whatever else comes with it (the check once read the phone)", function()
            for _, args in ipairs({{name = "", email = "x@example.com", phone = "+31 6 1"},
                                   {name = "   ", phone = "+31 6 1"}, {name = "\t"}}) do
                local e = err(cashier:call("customer.create", args), "validation")
                assert.are.equal("name", e.details and e.details.field)
            end
        end)
    end)

    describe("orders", function()
        local number, version

        it("previews without keeping anything", function()
            local r = cashier:call_paying("order.preview", e2e.hybrid_order())
            assert.is_true(r.ok, cjson.encode(r))
            assert.are.equal(3, #r.result.lines)
            local f = cashier:ok("order.find", {customer = "C0001"})
            assert.are.equal(0, #f.orders)
        end)

        it("asks for the amount due", function()
            local e = err(cashier:call("order.create", e2e.hybrid_order()), "payment_mismatch")
            assert.is_number(e.details.due)
        end)

        it("refuses a date in the past", function()
            local o = e2e.hybrid_order()
            o.lines[1].delivery.date = e2e.date(-3)
            local e = err(cashier:call("order.create", o), "validation")
            assert.is_string(e.details.field)
        end)

        it("creates a hybrid order, lines numbered in request order", function()
            local r = cashier:call_paying("order.create", e2e.hybrid_order())
            assert.is_true(r.ok, cjson.encode(r))
            local o = r.result
            number, version = o.number, o.version
            assert.are.equal("S001", o.number:sub(1, 4))
            assert.are.equal("open", o.status)
            for i, l in ipairs(o.lines) do assert.are.equal(i, l.line) end
            assert.are.equal("invoiced", o.lines[3].status) -- carry-out, invoiced at create
            assert.are.equal(1, #o.invoices)
            assert.is_true(o.balance >= 0)
            assert.are.equal(o.totals.order - (o.paid - o.refunded), o.balance)
        end)

        it("is idempotent by key", function()
            local a = cashier:ok("order.create", e2e.carryout_order("k-1"))
            local b = cashier:ok("order.create", e2e.carryout_order("k-1"))
            assert.are.equal(a.number, b.number)
        end)

        it("gets, finds and tells the history", function()
            local o = cashier:ok("order.get", {number = number})
            assert.are.equal(number, o.number)
            local f = cashier:ok("order.find", {customer = "C0001", status = "open"})
            local seen = false
            for _, x in ipairs(f.orders) do seen = seen or x.number == number end
            assert.is_true(seen)
            local h = cashier:ok("order.history", {number = number})
            assert.is_true(#h.events >= 1)
            assert.are.equal("order.create", h.events[1].op)
        end)

        it("F12: finds the order by part of the phone number, and the customer", function()
            local f = cashier:ok("order.find", {q = "1234 56", open = true})
            local seen = false
            for _, x in ipairs(f.orders) do
                seen = seen or x.number == number
                assert.are.equal("C0001", x.customer)
            end
            assert.is_true(seen)
            local c = cashier:ok("customer.find", {q = "234 5678"})
            assert.are.equal("C0001", c.customers[1].account)
            local e = err(cashier:call("order.find", {q = "12"}), "validation")
            assert.are.equal("q", e.details.field)
        end)

        it("not_found for an unknown order", function()
            err(cashier:call("order.get", {number = "S001-999999"}), "not_found")
        end)

        it("conflict on a stale version", function()
            err(cashier:call("order.edit", {number = number, version = version - 1,
                update_lines = {{line = 2, qty = 3}}}), "conflict")
        end)

        it("edits: added lines take the next numbers, removed ones are cancelled", function()
            local r = cashier:call_paying("order.edit", {number = number, version = version,
                add_lines = {{item = "P200", qty = 1, delivery = {mode = "pickup", store = "S001", date = e2e.date(5)}}}})
            assert.is_true(r.ok, cjson.encode(r))
            assert.are.equal(4, r.result.lines[4].line)
            version = r.result.version
            r = cashier:call_paying("order.edit", {number = number, version = version, remove_lines = {4}})
            assert.is_true(r.ok, cjson.encode(r))
            assert.are.equal("cancelled", r.result.lines[4].status)
            version = r.result.version
        end)

        it("validation: picking up more than is open", function()
            err(cashier:call_paying("order.pickup", {number = number, lines = {{line = 2, qty = 99}}}), "validation")
        end)

        it("picks up part of a line", function()
            local r = cashier:call_paying("order.pickup", {number = number, lines = {{line = 2, qty = 1}}})
            assert.is_true(r.ok, cjson.encode(r))
            assert.are.equal("partially_invoiced", r.result.order.status)
            assert.is_string(tostring(r.result.invoice.id))
        end)

        it("shipping needs the ship permission", function()
            local e = err(cashier:call("order.ship", {number = number, lines = {{line = 1, qty = 1}}}),
                "approval_required")
            assert.are.equal("ship", e.details.permission)
        end)

        it("ships as a manager", function()
            local r = manager:call_paying("order.ship", {number = number, lines = {{line = 1, qty = 1}},
                tracking = "TT123"})
            assert.is_true(r.ok, cjson.encode(r))
        end)

        it("returns goods of an invoice", function()
            local o = cashier:ok("order.get", {number = number})
            local inv = o.invoices[#o.invoices]
            local r = cashier:call_paying("order.return", {number = number, invoice = inv.id,
                lines = {{line = inv.lines[1].line, qty = 1, reason = "damaged"}}})
            assert.is_true(r.ok, cjson.encode(r))
            assert.is_true(r.result["return"].refund >= 0)
        end)

        it("cancels the rest, and cannot cancel twice", function()
            local r = cashier:call_paying("order.cancel", {number = number, reason = "changed mind"})
            assert.is_true(r.ok, cjson.encode(r))
            assert.are.equal("cancelled", r.result.order.status)
            assert.is_number(r.result.cancellation.charge)
            err(cashier:call("order.cancel", {number = number}), "invalid_state")
        end)

        it("a deposit override needs approval", function()
            local o = e2e.hybrid_order()
            o.deposit_override = {amount = 0}
            local e = err(cashier:call("order.create", o), "approval_required")
            assert.are.equal("deposit_override", e.details.permission)
            o.deposit_override = {amount = 0, approval = {staff = "1002", pin = "0000"}}
            err(cashier:call("order.create", o), "unauthenticated")
            o.deposit_override = {amount = 0, approval = {staff = "1002", pin = "9999"}}
            local r = cashier:call_paying("order.create", o)
            assert.is_true(r.ok, cjson.encode(r))
            assert.is_true(r.result.deposit.overridden)
            assert.are.equal("1002", r.result.deposit.override_by)
        end)

        it("quotes are confirmed", function()
            local o = e2e.hybrid_order()
            o.type = "quote"
            o.lines[3] = nil
            local q = cashier:ok("order.create", o)
            assert.are.equal("quote", q.status)
            local r = cashier:call_paying("order.confirm_quote", {number = q.number})
            assert.is_true(r.ok, cjson.encode(r))
            assert.are.equal("open", r.result.status)
            err(cashier:call("order.confirm_quote", {number = q.number}), "invalid_state")
        end)
    end)

    describe("policies and sync", function()
        it("policy.info and policy.reload", function()
            local i = cashier:ok("policy.info", {store = "S001"})
            assert.is_string(i.version)
            assert.is_table(i.parameters)
            err(cashier:call("policy.reload", {store = "S001"}), "approval_required")
            local r = manager:ok("policy.reload", {store = "S001"})
            assert.are.equal(i.version, r.version)
        end)
        it("sync.status", function()
            local s = cashier:ok("sync.status")
            assert.is_number(s.pending)
        end)
        it("hq_unavailable for a sync-mode store without HQ", function()
            local c = srv:connect()
            c:login("S003", "1004", "4444")
            local o = e2e.carryout_order()
            err(c:call("order.create", o), "hq_unavailable")
        end)
    end)
end)

describe("policy_error", function()
    local dir, srv
    setup(function()
        dir = e2e.tmpdir()
        e2e.write_file(dir .. "/boom.lua", [[
local policy = {}
function policy.deposit(order, ctx) error("boom") end
return policy
]])
        e2e.write_file(dir .. "/seed.json", [[{"stores":[{"id":"S007","name":"Boom","currency":"EUR",
  "timezone":"UTC","policy":"boom"}],
  "staff":[{"id":"2001","name":"Eve","pin":"2222","role":"cashier","stores":["S007"]}],
  "customers":[{"account":"C0001","name":"K","addresses":[{"id":"home","street":"a","city":"b","zip":"c","country":"NL"}]}],
  "products":[{"item":"P100","name":"Oak table","price":49900}]}]])
        srv = e2e.server({seed = dir .. "/seed.json", policies = dir})
    end)
    teardown(function()
        srv:cleanup()
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    it("names the file and line", function()
        local c = srv:connect()
        c:login("S007", "2001", "2222")
        local r = c:call("order.create", {customer = "C0001", type = "order",
            lines = {{item = "P100", qty = 1, delivery = {mode = "ship", address = "home", date = e2e.date(7)}}}})
        local e = err(r, "policy_error")
        assert.is_truthy(e.message:find("boom.lua:2", 1, true), e.message)
    end)

    it("reloads a changed file within a second", function()
        local c = srv:connect()
        c:login("S007", "2001", "2222")
        local before = c:ok("policy.info", {}).version
        e2e.write_file(dir .. "/boom.lua", "local policy = {}\nfunction policy.deposit() return 0 end\nreturn policy\n")
        e2e.wait_for(function() return c:ok("policy.info", {}).version ~= before end, 2, "the reload")
    end)
end)
