-- http_spec.lua: `serve --http` (SPEC OP1, OP2; PROTOCOL.md "HTTP"): the
-- health check, the Prometheus metrics (checked by promtool), and the
-- customer-orders pages, with the attacks on them performed from outside.
local e2e = require "e2e"
local socket = require "socket"

local metric = e2e.metric

local function promtool_check(text)
    local dir = e2e.tmpdir()
    e2e.write_file(dir .. "/m.txt", text)
    local code = e2e.sh("promtool check metrics <" .. dir .. "/m.txt >" .. dir .. "/out 2>&1")
    local out = e2e.read_file(dir .. "/out")
    e2e.sh("rm -rf " .. e2e.q(dir))
    return code, out
end

local function make_orders(c, n, date_days)
    local numbers = {}
    for i = 1, n do
        local r = c:call_paying("order.create", {customer = "C0001", lines = {{item = "P100", qty = 1,
            delivery = {mode = "pickup", store = "S001", date = e2e.date(date_days or 3)}}}})
        assert(r.ok, r.error and r.error.message)
        numbers[i] = r.result.number
    end
    return numbers
end

describe("HTTP health and metrics (OP1)", function()
    local srv
    before_each(function() srv = e2e.server{args = "--http 127.0.0.1:0"} end)
    after_each(function() srv:cleanup() end)

    it("OP1: GET /healthz answers 200 ok while the database answers", function()
        local status, h, body = srv:http("GET", "/healthz")
        assert.are.equal(200, status)
        assert.are.equal("ok\n", body)
        assert.truthy(h["content-type"]:find("text/plain"))
    end)

    it("OP1: /metrics is valid Prometheus text (promtool) and its counters move under load", function()
        local _, h, before = srv:http("GET", "/metrics")
        assert.truthy(h["content-type"]:find("text/plain; version=0.0.4", 1, true))
        local code, out = promtool_check(before)
        assert.are.equal(0, code, out)
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        make_orders(c, 20)
        assert.are.equal("not_found", c:call("order.get", {number = "S001-999999"}).error.code)
        c:call("no.such.op")
        local status, _, after = srv:http("GET", "/metrics")
        assert.are.equal(200, status)
        code, out = promtool_check(after)
        assert.are.equal(0, code, out)
        local creates = 'corder_requests_total{op="order.create",code="ok"}'
        assert.is_true(metric(after, creates) >= metric(before, creates) + 20)
        assert.are.equal(1, metric(after, 'corder_requests_total{op="order.get",code="not_found"}'))
        assert.are.equal(1, metric(after, 'corder_requests_total{op="(none)",code="unknown_op"}'))
        assert.is_true(metric(after, "corder_commits_total") > metric(before, "corder_commits_total"))
        assert.is_true(metric(after, "corder_batch_size_count") > metric(before, "corder_batch_size_count"))
        assert.is_true(metric(after, 'corder_request_seconds_count{op="order.create"}') >= 20)
        assert.is_true(metric(after, 'corder_request_seconds_bucket{op="order.create",le="+Inf"}') >= 20)
        assert.is_true(metric(after, "corder_commit_seconds_sum") > 0)
        -- the WAL bytes of the commits: whole frames (4096-byte pages + a
        -- 24-byte header), at least one per order committed on its own
        local wal = metric(after, "corder_wal_bytes_total") - metric(before, "corder_wal_bytes_total")
        assert.is_true(wal >= 20 * 4120, "wal bytes " .. wal)
        assert.are.equal(0, wal % 4120)
        assert.are.equal(1, metric(after, "corder_connections"))
        assert.is_true(metric(after, 'corder_sync_queue_events{store="S001"}') >= 20)
        assert.truthy(after:find('\ncorder_sync_queue_oldest_age_seconds{store="S001"} ', 1, true))
        assert.truthy(after:find('\ncorder_policy_info{store="S001",policy="default",version="', 1, true))
        assert.truthy(after:find("\ncorder_policy_errors_total 0", 1, true))
        assert.are.equal(1, metric(after, "corder_up"))
        c:close()
    end)

    it("OP1: label values are escaped as the exposition format says", function()
        srv:cleanup()
        local dir = e2e.tmpdir()
        local seed = e2e.seed_variant(dir, "seed", function(t)
            t.stores[#t.stores + 1] = {id = 'S"\\x', name = "Odd", currency = "EUR",
                timezone = "UTC", order_creation = "async", policy = "default"}
        end)
        srv = e2e.server{seed = seed, args = "--http 127.0.0.1:0"}
        local _, _, text = srv:http("GET", "/metrics")
        assert.truthy(text:find('corder_orders{store="S\\"\\\\x"} 0', 1, true), text)
        local code, out = promtool_check(text)
        assert.are.equal(0, code, out)
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)
end)

describe("the customer-orders page (OP2)", function()
    local srv
    before_each(function() srv = e2e.server{args = "--http 127.0.0.1:0"} end)
    after_each(function() srv:cleanup() end)

    it("OP2: GET / is the sign-in form, usable on a tablet", function()
        local status, h, body = srv:http("GET", "/")
        assert.are.equal(200, status)
        assert.truthy(h["content-type"]:find("text/html; charset=utf-8", 1, true))
        assert.truthy(body:find('<meta name="viewport"', 1, true))
        assert.truthy(body:find('<form class="signin" method="post" action="/login">', 1, true))
        assert.truthy(body:find('name="pin"', 1, true))
        assert.truthy(body:find("min-height:48px", 1, true))
        assert.truthy(h["content-security-policy"]:find("default-src 'none'", 1, true))
        assert.are.equal("no-store", h["cache-control"])
    end)

    it("OP2: pages without the session cookie (or with a forged one) redirect to sign-in", function()
        for _, path in ipairs{"/orders", "/orders/S001-000001", "/orders?status=open"} do
            local status, h = srv:http("GET", path)
            assert.are.equal(303, status, path)
            assert.are.equal("/", h.location)
            status, h = srv:http("GET", path, {headers = {Cookie = "corder_session=" .. ("a"):rep(64)}})
            assert.are.equal(303, status, path)
            assert.are.equal("/", h.location)
        end
    end)

    it("OP2: signing in sets an HttpOnly, SameSite=Strict session cookie with an expiry", function()
        local status, h = srv:http("POST", "/login", {body = "store=S001&staff=1001&pin=1234"})
        assert.are.equal(303, status)
        assert.are.equal("/orders", h.location)
        local cookie = h["set-cookie"][1]
        assert.truthy(cookie:match("^corder_session=%x+;"), cookie)
        assert.are.equal(64, #cookie:match("^corder_session=(%x+)"))
        assert.truthy(cookie:find("; HttpOnly", 1, true))
        assert.truthy(cookie:find("; SameSite=Strict", 1, true))
        assert.truthy(cookie:find("; Path=/", 1, true))
        assert.truthy(cookie:match("; Max%-Age=%d+"))
        -- two sign-ins get two different tokens
        assert.are_not.equal(cookie:match("^([^;]+)"), srv:http_login("S001", "1001", "1234"))
        -- and signing out forgets the session
        local c = cookie:match("^([^;]+)")
        assert.are.equal(200, (srv:http("GET", "/orders", {headers = {Cookie = c}})))
        srv:http("POST", "/logout", {headers = {Cookie = c}})
        assert.are.equal(303, (srv:http("GET", "/orders", {headers = {Cookie = c}})))
    end)

    it("OP2: a wrong PIN on the page is refused and counts toward the protocol's lockout", function()
        local status, _, body = srv:http("POST", "/login", {body = "store=S001&staff=1001&pin=9999"})
        assert.are.equal(401, status)
        assert.truthy(body:find('role="alert"', 1, true))
        for _ = 1, 4 do srv:http("POST", "/login", {body = "store=S001&staff=1001&pin=0000"}) end
        -- five wrong PINs on the page: the id is locked on the protocol too
        local c = srv:connect()
        local r = c:call("session.login", {store = "S001", staff = "1001", pin = "1234"})
        assert.is_false(r.ok)
        assert.truthy(r.error.message:find("locked"), r.error.message)
        -- and on the page, the right PIN is refused as well
        status = srv:http("POST", "/login", {body = "store=S001&staff=1001&pin=1234"})
        assert.are.equal(401, status)
        c:close()
    end)

    it("OP2: wrong PINs on the page slow their address down, as on the protocol", function()
        -- three wrong PINs at full speed, then each answer is held longer
        for _ = 1, 3 do srv:http("POST", "/login", {body = "store=S001&staff=9999&pin=0000"}) end
        local t0 = socket.gettime()
        srv:http("POST", "/login", {body = "store=S001&staff=9998&pin=0000"})
        assert.is_true(socket.gettime() - t0 >= 0.09, "the fourth failure was not slowed down")
        -- the protocol's port from the same address is slowed down too
        local c = srv:connect()
        t0 = socket.gettime()
        c:call("session.login", {store = "S001", staff = "9997", pin = "0000"})
        assert.is_true(socket.gettime() - t0 >= 0.15, "the protocol did not count the page's failures")
        c:close()
    end)

    it("OP2: the orders list filters by status and dates through order.find", function()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local nums = make_orders(c, 3)
        local r = c:call("order.get", {number = nums[2]})
        assert(c:call("order.cancel", {number = nums[2], version = r.result.version,
            reason = "test"}).ok)
        local cookie = srv:http_login("S001", "1001", "1234")
        local hdr = {headers = {Cookie = cookie}}
        local status, _, all = srv:http("GET", "/orders", hdr)
        assert.are.equal(200, status)
        for _, n in ipairs(nums) do assert.truthy(all:find(">" .. n .. "</a>", 1, true), n) end
        local _, _, cancelled = srv:http("GET", "/orders?status=cancelled", hdr)
        assert.truthy(cancelled:find(">" .. nums[2] .. "</a>", 1, true))
        assert.falsy(cancelled:find(">" .. nums[1] .. "</a>", 1, true))
        assert.truthy(cancelled:find('<option value="cancelled" selected>', 1, true))
        local today = os.date("!%Y-%m-%d")
        local _, _, dated = srv:http("GET", "/orders?from=" .. today .. "&to=" .. today, hdr)
        assert.truthy(dated:find(">" .. nums[3] .. "</a>", 1, true))
        local _, _, future = srv:http("GET", "/orders?from=" .. e2e.date(10), hdr)
        assert.truthy(future:find('id="count">0 orders', 1, true))
        -- a bad filter is the op's own message, on the page
        local _, _, bad = srv:http("GET", "/orders?status=%3Cb%3Ebogus", hdr)
        assert.truthy(bad:find('class="error"', 1, true))
        assert.falsy(bad:find("<b>bogus", 1, true))
        c:close()
    end)

    it("OP2: text search, pickup store and open-only go to order.find", function()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local nums = make_orders(c, 2)
        local cookie = srv:http_login("S001", "1001", "1234")
        local status, _, page = srv:http("GET", "/orders?q=" .. nums[1] .. "&pickup_store=S001&open=1",
            {headers = {Cookie = cookie}})
        assert.are.equal(200, status)
        assert.truthy(page:find('name="q" value="' .. nums[1] .. '"', 1, true))
        assert.truthy(page:find('id="open" checked', 1, true))
        assert.truthy(page:find(">" .. nums[1] .. "</a>", 1, true))
        assert.falsy(page:find(">" .. nums[2] .. "</a>", 1, true))
        -- a q the op refuses (too short) is its message on the page
        local _, _, short = srv:http("GET", "/orders?q=x", {headers = {Cookie = cookie}})
        assert.truthy(short:find('class="error"', 1, true))
        c:close()
    end)

    it("OP2: one order's page shows its customer, lines, charges, invoices, returns, sync and history", function()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local r = c:call_paying("order.create", e2e.hybrid_order())
        assert(r.ok, r.error and r.error.message)
        local n = r.result.number
        local cookie = srv:http_login("S001", "1001", "1234")
        local status, _, page = srv:http("GET", "/orders/" .. n, {headers = {Cookie = cookie}})
        assert.are.equal(200, status)
        assert.truthy(page:find("Order " .. n, 1, true))
        assert.truthy(page:find("C0001 · Karin Smit", 1, true))
        assert.truthy(page:find("Oak table", 1, true))
        assert.truthy(page:find("pickup at S001", 1, true))
        assert.truthy(page:find("ship to home", 1, true))
        for _, id in ipairs{"lines", "charges", "invoices", "returns", "history", "sync"} do
            assert.truthy(page:find('id="' .. id .. '"', 1, true), id)
        end
        assert.truthy(page:find("carryout", 1, true)) -- the carry-out invoice
        assert.truthy(page:find("order.create", 1, true)) -- the history
        assert.truthy(page:find("pending, 0 attempts", 1, true))
        status = srv:http("GET", "/orders/S001-999999", {headers = {Cookie = cookie}})
        assert.are.equal(404, status)
        c:close()
    end)

    it("OP2: every value is HTML-escaped (a customer named <script>)", function()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local hostile = '<script>alert("x")</script>\'"&'
        local acc = c:ok("customer.create", {name = hostile, addresses = {{street = "<img src=x onerror=alert(1)>",
            city = "A", zip = "1", country = "NL"}}}).account
        local r = c:call_paying("order.create", {customer = acc, lines = {{item = "P100", qty = 1,
            delivery = {mode = "pickup", store = "S001", date = e2e.date(2)}}}})
        assert(r.ok, r.error and r.error.message)
        local cookie = srv:http_login("S001", "1001", "1234")
        local _, _, page = srv:http("GET", "/orders/" .. r.result.number, {headers = {Cookie = cookie}})
        assert.falsy(page:find("<script>", 1, true))
        assert.truthy(page:find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&quot;&amp;", 1, true))
        -- hostile input echoed into the form is escaped too
        local _, _, form = srv:http("POST", "/login", {body = "store=%22%3E%3Cscript%3E&staff=1&pin=1"})
        assert.falsy(form:find("<script>", 1, true))
        assert.truthy(form:find('value="&quot;&gt;&lt;script&gt;"', 1, true))
        c:close()
    end)

    it("OP2: the page is read-only", function()
        local cookie = srv:http_login("S001", "1001", "1234")
        for _, m in ipairs{"PUT", "DELETE", "PATCH"} do
            local status = srv:http(m, "/orders", {headers = {Cookie = cookie}})
            assert.is_true(status == 405 or status == 501, m .. " answered " .. tostring(status))
        end
        assert.are.equal(405, (srv:http("POST", "/orders", {headers = {Cookie = cookie}, body = "x=1"})))
    end)
end)

describe("attacks on the HTTP listener (OP2)", function()
    local srv
    before_each(function() srv = e2e.server{args = "--http 127.0.0.1:0"} end)
    after_each(function() srv:cleanup() end)

    it("refuses an oversized form and oversized headers", function()
        local status = srv:http("POST", "/login", {body = "store=S001&staff=1001&pin=1234&x=" .. ("a"):rep(10000)})
        assert.are.equal(413, status)
        status = srv:http("GET", "/", {headers = {["X-Big"] = ("b"):rep(20000)}})
        assert.is_true(status == nil or status >= 400, "big headers answered " .. tostring(status))
        assert.are.equal(200, (srv:http("GET", "/healthz")))
    end)

    it("refuses a sign-in posted from another site (login CSRF)", function()
        local status, h = srv:http("POST", "/login", {body = "store=S001&staff=1001&pin=1234",
            headers = {Origin = "http://evil.example"}})
        assert.are.equal(403, status)
        assert.are.equal(0, #h["set-cookie"])
        status = srv:http("POST", "/login", {body = "store=S001&staff=1001&pin=1234",
            headers = {["Sec-Fetch-Site"] = "cross-site"}})
        assert.are.equal(403, status)
    end)

    it("redirects only to its own fixed paths (no open redirect)", function()
        local status, h = srv:http("POST", "/login?next=http://evil.example/&redirect=//evil.example",
            {body = "store=S001&staff=1001&pin=1234&next=http%3A%2F%2Fevil.example"})
        assert.are.equal(303, status)
        assert.are.equal("/orders", h.location)
        status, h = srv:http("GET", "//evil.example/orders")
        assert.is_true(h.location == nil or h.location == "/", tostring(h.location))
    end)

    it("slowloris on HTTP does not stall the tills, and a silent client is dropped", function()
        local slow = {}
        for i = 1, 40 do
            local s = assert(socket.tcp())
            assert(s:connect("127.0.0.1", srv.http_port))
            s:send("GET /orders HTTP/1.1\r\nHost: x\r\n")
            slow[i] = s
        end
        local silent = assert(socket.tcp())
        assert(silent:connect("127.0.0.1", srv.http_port))
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local worst, t_end = 0, socket.gettime() + 3
        local k = 0
        while socket.gettime() < t_end do
            k = k + 1
            for _, s in ipairs(slow) do s:send("X-" .. k .. ": y\r\n") end -- a header at a time
            local t0 = socket.gettime()
            assert.is_true(c:call("ping").ok)
            worst = math.max(worst, socket.gettime() - t0)
            socket.sleep(0.05)
        end
        local limit = os.getenv("CORDER_SANITIZED") and 0.25 or 0.1
        assert.is_true(worst < limit, "a ping took " .. worst .. " s during slowloris")
        -- the page still answers others meanwhile
        assert.are.equal(200, (srv:http("GET", "/healthz")))
        -- the silent connection is closed by the read timeout (10 s)
        silent:settimeout(15)
        local t0 = socket.gettime()
        local data, err = silent:receive("*a")
        assert.is_true(socket.gettime() - t0 < 14.5, "the silent client was kept")
        assert.is_true(data == "" or err == "closed" or data ~= nil)
        silent:close()
        for _, s in ipairs(slow) do s:close() end
        c:close()
    end)
end)
