-- durability_spec.lua: an ok answer to a write means durable (PROTOCOL.md
-- "Framing"). A client streams order.create; the server is killed with
-- SIGKILL mid-stream; after a restart every acknowledged order is there.
-- Again with --commit-delay-us, where a batch waits for more requests
-- before its COMMIT: an answer still only follows its COMMIT. The server
-- pipelines its commits by default (the WAL's fdatasync on a thread of its
-- own, answers released after it); once more with --commit-pipeline 0,
-- where the COMMIT itself syncs.
local e2e = require "e2e"
local cjson = require "cjson"

local function kill_mid_stream(args)
    local srv = e2e.server({args = args})
    -- idle tills: enough connections open for a commit delay to apply
    local idle = {}
    for i = 1, 4 do idle[i] = srv:connect() end
    do
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local acked, sent, answered = {}, 0, 0
        local window, kill_after, killed = 200, 300, false
        while true do
            if not killed then
                local buf = {}
                while sent - answered < window and sent < 100000 do
                    sent = sent + 1
                    buf[#buf + 1] = c:request("order.create", e2e.carryout_order(), sent)
                end
                if #buf > 0 then
                    local ok = c:send_raw(table.concat(buf))
                    if not ok then break end
                end
            end
            local r, err = c:recv()
            if not r then
                assert.is_true(killed, "connection lost before the kill: " .. tostring(err))
                break
            end
            answered = answered + 1
            assert.are.equal(answered, r.id)
            if r.ok then acked[#acked + 1] = r.result.number
            else error("create failed: " .. cjson.encode(r.error)) end
            if not killed and #acked >= kill_after then
                srv:kill9()
                killed = true
            end
        end
        assert.is_true(#acked >= kill_after)
        srv:start()
        local d = srv:connect()
        d:login("S001", "1001", "1234")
        local buf = {}
        for i, n in ipairs(acked) do buf[i] = d:request("order.get", {number = n}, i) end
        d:send_raw(table.concat(buf))
        for i, n in ipairs(acked) do
            local r = assert(d:recv())
            assert.are.equal(i, r.id)
            assert.is_true(r.ok, "acknowledged order " .. n .. " lost: " .. cjson.encode(r))
        end
        assert.are.equal("ok\n", srv:sql("PRAGMA integrity_check"))
    end
    srv:cleanup()
end

describe("durability", function()
    it("keeps every acknowledged order across kill -9", function()
        kill_mid_stream("")
    end)

    it("keeps every acknowledged order across kill -9 with a commit delay", function()
        kill_mid_stream("--commit-delay-us 3000")
    end)

    it("keeps every acknowledged order across kill -9 without pipelined commits", function()
        kill_mid_stream("--commit-pipeline 0")
    end)
end)
