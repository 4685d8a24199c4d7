-- cli_spec.lua: `corder serve` usage and start-up failures (PROTOCOL.md
-- "Command line": 2 for bad usage, 1 for runtime failure, one line on stderr).
local e2e = require "e2e"

local function one_line(s)
    assert.is_truthy(s:match("^corder: [^\n]+\n$"), "not one line: " .. s)
end

describe("corder serve", function()
    local dir
    setup(function() dir = e2e.tmpdir() end)
    teardown(function() e2e.sh("rm -rf " .. e2e.q(dir)) end)

    it("needs --db", function()
        local code, out, err = e2e.run("serve")
        assert.are.equal(2, code)
        one_line(err)
        assert.are.equal("", out)
    end)

    it("refuses unknown options and missing values", function()
        local code, _, err = e2e.run("serve --db x.db --bogus 1")
        assert.are.equal(2, code)
        one_line(err)
        code, _, err = e2e.run("serve --db")
        assert.are.equal(2, code)
        one_line(err)
    end)

    it("refuses malformed values", function()
        for _, args in ipairs({"--listen nohostport", "--listen 127.0.0.1:99999", "--role boss",
                               "--sync-interval 0", "--sync-interval x", "--hq nowhere",
                               -- C4: HQ's master data asked for at least every 10 s
                               "--master-poll-ms 99", "--master-poll-ms 10001",
                               "--master-poll-ms 1s"}) do
            local code, _, err = e2e.run("serve --db " .. e2e.q(dir .. "/x.db") .. " " .. args)
            assert.are.equal(2, code, args)
            one_line(err)
        end
    end)

    it("fails with 1 when the database cannot be opened", function()
        local code, out, err = e2e.run("serve --db /nonexistent/dir/t.db --listen 127.0.0.1:0")
        assert.are.equal(1, code)
        one_line(err)
        assert.are.equal("", out)
    end)

    it("fails with 1 when the port is taken", function()
        local srv = e2e.server()
        local code, _, err = e2e.run("serve --db " .. e2e.q(srv.db) .. " --listen 127.0.0.1:" .. srv.port)
        srv:cleanup()
        assert.are.equal(1, code)
        one_line(err)
    end)

    it("fails with 1 naming the store and file when a store's policy cannot load", function()
        local seed = dir .. "/seed.json"
        e2e.write_file(seed, [[{"stores":[{"id":"S009","name":"Broken","currency":"EUR",
          "timezone":"UTC","policy":"nosuchpolicy"}],"staff":[],"customers":[],"products":[]}]])
        local srv = e2e.server({seed = seed, no_start = true, policies = dir})
        local code, out, err = e2e.run("serve --db " .. e2e.q(srv.db) .. " --policies " .. e2e.q(dir)
            .. " --listen 127.0.0.1:0")
        srv:cleanup()
        assert.are.equal(1, code)
        one_line(err)
        assert.is_truthy(err:find("S009", 1, true), err)
        assert.is_truthy(err:find("nosuchpolicy", 1, true), err)
        assert.are.equal("", out)
    end)
end)

-- The server's allocator (engine/cli/main.c): `serve` starts itself again
-- with a larger glibc per-thread cache (9% fewer instructions per
-- order.create), and leaves an operator's own GLIBC_TUNABLES alone.
describe("corder serve's allocator setting", function()
    local function environ(pid)
        local f = assert(io.open("/proc/" .. pid .. "/environ", "rb"))
        local env = f:read("a")
        f:close()
        return "\0" .. env
    end

    it("sets glibc's tcache_count and keeps its process id", function()
        local srv = e2e.server()
        finally(function() srv:cleanup() end)
        assert.is_true(srv:connect():call("ping").ok)
        assert.is_truthy(environ(srv.pid):find("\0GLIBC_TUNABLES=glibc.malloc.tcache_count=256\0", 1, true))
    end)

    it("keeps the operator's GLIBC_TUNABLES", function()
        local srv = e2e.server({no_start = true})
        finally(function() srv:cleanup() end)
        local plain = srv.serve_command
        srv.serve_command = function(self) return "GLIBC_TUNABLES=glibc.malloc.perturb=0 " .. plain(self) end
        srv:start()
        assert.is_true(srv:connect():call("ping").ok)
        local env = environ(srv.pid)
        assert.is_truthy(env:find("\0GLIBC_TUNABLES=glibc.malloc.perturb=0\0", 1, true))
        assert.is_falsy(env:find("tcache_count", 1, true))
    end)
end)
