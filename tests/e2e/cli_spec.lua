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
                               "--sync-interval 0", "--sync-interval x", "--hq nowhere"}) do
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
