-- process_names_spec.lua: what an operator sees in ps, top -H and pgrep
-- (docs/operations.md, "which thread is busy"). `serve` starts itself again
-- to tune its allocator (engine/cli/main.c); it must come back as
-- "corder", not as "exe" (the name of /proc/self/exe), and its threads
-- carry names that say what they do.
local e2e = require "e2e"
local read = e2e.read_file

describe("the server's process and thread names", function()
    local srv
    setup(function()
        srv = e2e.server({no_start = true})
        -- without GLIBC_TUNABLES, as an operator starts it: the re-exec runs
        local plain = getmetatable(srv).serve_command
        srv.serve_command = function(self) return "env -u GLIBC_TUNABLES " .. plain(self) end
        srv:start()
    end)
    teardown(function() srv:cleanup() end)

    it("is named corder after starting itself again for its allocator", function()
        local environ = assert(read("/proc/" .. srv.pid .. "/environ"))
        assert.truthy(environ:find("GLIBC_TUNABLES=glibc.malloc.tcache_count=256", 1, true),
            "the server did not start itself again")
        assert.are.equal("corder\n", read("/proc/" .. srv.pid .. "/comm"))
        -- outside the sanitizer: pgrep with ASan preloaded never returns
        local found = e2e.sh_out("env -u LD_PRELOAD -u ASAN_OPTIONS pgrep -x corder")
        assert.truthy((found or ""):find(tostring(srv.pid), 1, true), "pgrep -x corder misses it")
    end)

    it("names its checkpoint, WAL sync, sender, PIN and policy watchdog threads", function()
        local names = {}
        for tid in e2e.sh_out("ls /proc/" .. srv.pid .. "/task"):gmatch("%d+") do
            local n = read("/proc/" .. srv.pid .. "/task/" .. tid .. "/comm")
            if n then names[n:gsub("\n", "")] = (names[n:gsub("\n", "")] or 0) + 1 end
        end
        assert.are.equal(1, names["corder-ckpt"])
        assert.are.equal(1, names["corder-walsync"])
        assert.are.equal(1, names["corder-send"]) -- writes answers to many tills (net/sender.c)
        assert.truthy((names["corder-pin"] or 0) >= 1)
        -- the policy budget's watchdog (started by loading the policies)
        assert.are.equal(1, names["corder-policy"])
        assert.are.equal(1, names["corder"]) -- the loop, the process's own thread
        assert.is_nil(names["exe"])
    end)
end)
