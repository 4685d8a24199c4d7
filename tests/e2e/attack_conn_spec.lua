-- attack_conn_spec.lua: strangers on the store network, and secrets at
-- rest, attacked from outside against the real server. Each `it` is one
-- attack a reviewer reproduced against an earlier version; each must now
-- fail: bounded memory and sockets for connections that never sign in,
-- files only their owner can read, an admin socket nobody can take over.
local e2e = require "e2e"

local function rss_mb(pid)
    local status = e2e.read_file("/proc/" .. pid .. "/status") or ""
    return tonumber(status:match("VmRSS:%s*(%d+)")) / 1024
end

local function mode_of(path)
    local p = io.popen("stat -c %a " .. e2e.q(path) .. " 2>/dev/null")
    local m = p:read("l")
    p:close()
    return m
end

describe("attack: strangers holding memory", function()
    local srv
    after_each(function() if srv then srv:cleanup() end end)
    -- AddressSanitizer keeps freed memory in quarantine and maps shadow
    -- memory: RSS says nothing about the server's own bounds there.
    local sanitized = os.getenv("CORDER_SANITIZED") == "1"

    it("bounds what unauthenticated connections buffer, and gives it back", function()
        if sanitized then return pending("RSS is not the server's under ASan") end
        srv = e2e.server()
        local base = rss_mb(srv.pid)
        -- 80 strangers, each sending most of a 1 MiB line: 72 MB offered
        local chunk = ("x"):rep(64 * 1024)
        local conns = {}
        for i = 1, 80 do
            local c = srv:connect()
            c:settimeout(2)
            c:send_raw('{"id":1,"op":"ping","args":{"pad":"')
            for _ = 1, 14 do
                if not c:send_raw(chunk) then break end
            end
            conns[i] = c
        end
        e2e.sleep(0.5)
        local peak = rss_mb(srv.pid)
        -- 32 MiB for all strangers together, plus the server's own overhead
        assert.is_true(peak - base < 64, ("RSS grew from %.0f to %.0f MB"):format(base, peak))
        -- a till still signs in and works meanwhile
        local t = srv:connect()
        assert.are.equal("1001", t:login("S001", "1001", "1234").staff)
        for _, c in ipairs(conns) do c:close() end
        -- memory goes back near its base once they are gone
        local after = e2e.wait_for(function()
            local m = rss_mb(srv.pid)
            return m - base < 24 and m
        end, 10, "RSS back near its base")
        assert.is_true(after - base < 24)
        assert.is_true(t:call("ping").ok)
        t:close()
    end)

    it("stops reading strangers who pipeline requests and never read", function()
        if sanitized then return pending("RSS is not the server's under ASan") end
        srv = e2e.server()
        local block = ('{"op":"ping"}\n'):rep(20000) -- 20,000 pings, 280 kB
        local conns, total = {}, 0
        -- each is no longer read after 64 KiB of unsent answers, so his
        -- writes stall long before the 28 MB he would like to send; 30
        -- of them would have held 4 MiB of answers each before
        for i = 1, 30 do
            local c = srv:connect()
            c:settimeout(0.05)
            local stalled = false
            for _ = 1, 100 do
                local last, err, partial = c.sock:send(block)
                total = total + (last or partial or 0)
                if not last then
                    stalled = true
                    break
                end
            end
            assert.is_true(stalled, "the server kept reading stranger " .. i)
            conns[i] = c
        end
        e2e.sleep(0.3)
        local rss = rss_mb(srv.pid)
        assert.is_true(rss < 48, ("RSS %.0f MB after %d unread bytes of pings"):format(rss, total))
        local t = srv:connect()
        assert.is_true(t:call("ping").ok)
        t:close()
        for _, c in ipairs(conns) do c:close() end
    end)
end)

describe("attack: strangers holding sockets", function()
    local srv
    after_each(function() if srv then srv:cleanup() end end)

    it("lets a till in when --max-connections is taken by strangers", function()
        srv = e2e.server({args = "--max-connections 20"})
        local idle = {}
        for i = 1, 20 do idle[i] = srv:connect() end
        e2e.sleep(0.2)
        local t = srv:connect()
        assert.are.equal("1001", t:login("S001", "1001", "1234").staff)
        -- 20 signed-in tills are a full house: the next is refused
        local tills = {t}
        for i = 2, 20 do
            tills[i] = srv:connect()
            tills[i]:login("S001", "1001", "1234")
        end
        local extra = srv:connect()
        local r = assert(extra:recv())
        assert.are.equal("internal", r.error.code)
        assert.truthy(r.error.message:find("too many connections"))
        assert.are.equal("table", type(r.error.details)) -- every error carries details
        assert.is_true(t:call("ping").ok)
        for _, c in ipairs(tills) do c:close() end
        for _, c in ipairs(idle) do c:close() end
        extra:close()
    end)

    it("closes connections that stay unauthenticated or silent too long", function()
        srv = e2e.server({args = "--auth-timeout 1 --idle-timeout 3"})
        local stranger, till = srv:connect(), srv:connect()
        till:login("S001", "1001", "1234")
        assert.is_true(stranger:call("ping").ok) -- pinging is not signing in
        assert.is_true(stranger:closed(4), "the stranger was not closed")
        assert.is_true(till:call("ping").ok) -- signed in: still here
        assert.is_true(till:closed(6), "the silent till was not closed")
    end)
end)

describe("attack: secrets at rest", function()
    local srv
    after_each(function() if srv then srv:cleanup() end end)

    it("creates the database, its WAL and shared memory 0600", function()
        srv = e2e.server()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        assert.is_true(c:call_paying("order.create", e2e.hybrid_order()).ok)
        for _, suffix in ipairs({"", "-wal", "-shm"}) do
            assert.are.equal("600", mode_of(srv.db .. suffix), srv.db .. suffix)
        end
        c:close()
    end)

    it("tightens a database that was left readable by others", function()
        srv = e2e.server({no_start = true})
        e2e.sh("chmod 644 " .. e2e.q(srv.db))
        srv:start()
        assert.are.equal("600", mode_of(srv.db))
    end)

    it("keeps no approval PIN in the idempotency table", function()
        srv = e2e.server()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local order = e2e.hybrid_order()
        order.deposit_override = {amount = 0, approval = {staff = "1002", pin = "9999"}}
        order.idempotency_key = "k-1"
        local first = c:call_paying("order.create", order)
        assert.is_true(first.ok)
        -- the same request with another PIN is the same request: the
        -- stored hash cannot tell PINs apart, so it cannot be guessed
        -- against them
        order.deposit_override.approval.pin = "0000"
        local again = c:call("order.create", order)
        assert.is_true(again.ok)
        assert.are.equal(first.result.number, again.result.number)
        assert.are.equal("1", srv:sql("SELECT count(*) FROM orders"):match("%d+"))
        c:close()
    end)
end)

describe("attack: taking over the admin socket (A3)", function()
    it("refuses to start a second server on a live admin socket", function()
        local dir = e2e.tmpdir()
        local sock = dir .. "/admin.sock"
        local a = e2e.server({args = "--admin-socket " .. e2e.q(sock)})
        local b = e2e.server({args = "--admin-socket " .. e2e.q(sock), no_start = true})
        local ok, err = pcall(b.start, b)
        assert.is_false(ok)
        assert.truthy(tostring(err):find("in use by a running server"))
        -- the first server's socket is still there and still its own
        local p = io.popen("echo '1 + 1' | " .. e2e.q(e2e.bin) .. " repl --connect " .. e2e.q(sock))
        local out = p:read("a")
        p:close()
        assert.are.equal("2\n", out)
        assert.are.equal("600", mode_of(sock))
        a:cleanup(); b:cleanup()
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    it("replaces a socket left behind by a crash", function()
        local dir = e2e.tmpdir()
        local sock = dir .. "/admin.sock"
        local a = e2e.server({args = "--admin-socket " .. e2e.q(sock)})
        a:kill9()
        a:start() -- the stale socket answers nobody: taken
        assert.are.equal("600", mode_of(sock))
        a:cleanup()
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)
end)
