-- wal_pages_spec.lua: the bench tool that says where a store's WAL bytes
-- go (tests/bench/wal_pages.c, docs/performance.md "Where the WAL bytes go", issue 14's
-- WAL target). Its numbers are only worth printing if they add up: every
-- committed frame named once, a create's rows found in the tables that
-- hold them, and a page never counted twice in a commit.
local e2e = require "e2e"

local tool = e2e.build .. "/wal_pages"

local function parse(line)
    local t = {}
    for k, v in line:gmatch("(%S+)=(%S+)") do t[k] = tonumber(v) or v end
    return t
end

describe("wal_pages", function()
    it("names the B-trees of a store's committed WAL frames, and they add up", function()
        local srv = e2e.server()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        for i = 1, 20 do
            local r = c:call("order.create", e2e.carryout_order("wal-pages-" .. i))
            assert.is_true(r.ok, r.error and r.error.message)
        end
        local out = e2e.sh_out(e2e.q(tool) .. " " .. e2e.q(srv.db) .. " 2>&1")
        c:close()
        srv:cleanup()
        local w = parse(out)
        -- the current generation only: once the checkpoint thread has
        -- copied every frame, SQLite starts the log over (under ASan that
        -- happened between two of the creates), so not all 20 need be there
        assert.truthy(w.wal_commits and w.wal_commits >= 1 and w.wal_commits <= 40, out)
        assert.are.equal(0, w.repeated, out)
        -- a create writes its order row, its log entry and its outbox event
        for _, tree in ipairs({"orders", "txlog", "outbox", "counters"}) do
            assert.truthy((w[tree] or 0) > 0, tree .. " missing: " .. out)
        end
        -- every committed frame in one B-tree or "(free)": the parts make
        -- the whole, up to the rounding of what is printed (2 decimals a
        -- part, 1 for the whole)
        local sum, parts = 0, 0
        for k, v in pairs(w) do
            if k ~= "wal_commits" and k ~= "wal_pages_per_commit" and k ~= "repeated" then
                sum, parts = sum + v, parts + 1
            end
        end
        assert.is_true(math.abs(sum - w.wal_pages_per_commit) <= 0.05 + 0.005 * parts, out)
    end)

    it("refuses a file that is not a WAL, and a store without one", function()
        local dir = e2e.tmpdir()
        e2e.write_file(dir .. "/x.db", "")
        local code = e2e.sh(e2e.q(tool) .. " " .. e2e.q(dir .. "/x.db") .. " >/dev/null 2>&1")
        assert.are_not.equal(0, code)
        e2e.write_file(dir .. "/x.db-wal", string.rep("\0", 64))
        code = e2e.sh(e2e.q(tool) .. " " .. e2e.q(dir .. "/x.db") .. " >/dev/null 2>&1")
        assert.are_not.equal(0, code)
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)
end)
