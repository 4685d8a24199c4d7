-- sender_spec.lua: the sender thread (engine/net/sender.c). When a batch's
-- answers go to 64 connections or more, a thread of their own writes them
-- while the loop runs the next batch. PROTOCOL.md "Framing": whatever
-- thread writes them, a connection's answers come back whole and in
-- request order, and only to that connection.
local e2e = require "e2e"

-- Wide ids: a connection's answers take more bytes, so a socket that is
-- not read fills sooner.
local PAD = string.rep("y", 300)
local function id_of(k, i) return string.format("%s%04d-%06d", PAD, k, i) end
-- Wider still for the client that stops reading: 3 kB an answer.
local WIDE = string.rep("z", 3000)
local function wide_id(i) return string.format("%s%06d", WIDE, i) end

local function thread_writes(srv) return srv:metric("corder_answer_writes_by_thread_total") end

local function open(srv, n)
    local conns = {}
    for k = 1, n do conns[k] = assert(e2e.connect(srv.port)) end
    return conns
end

-- Each connection sends its pings in one write; nothing is read yet.
local function send_pings(conns, first, count)
    for k, c in ipairs(conns) do
        local buf = {}
        for i = 1, count do buf[i] = c:request("ping", nil, id_of(k, first + i)) end
        c:send_raw(table.concat(buf))
    end
end

local function expect_pings(c, k, first, count)
    for i = 1, count do
        local r = assert(c:recv())
        assert.are.equal(id_of(k, first + i), r.id)
        assert.is_true(r.ok)
    end
end

describe("answers written by the sender thread", function()
    local srv
    before_each(function() srv = e2e.server{args = "--http 127.0.0.1:0"} end)
    after_each(function() srv:cleanup() end)

    -- Runs send (the clients' writes) with the server stopped: when it goes
    -- on, every connection is readable in the same turn of its loop, and
    -- their lines (fewer than a batch's 512) make one batch whose answers
    -- go to all of them at once: the sender thread's case. Unless reading
    -- them takes longer than a batch may stay open (10 ms), as it can
    -- under ASan on a busy machine: then the batch is cut in two.
    local function burst(send)
        srv:signal("STOP")
        local ok, err = pcall(send)
        srv:signal("CONT")
        assert(ok, err)
    end

    -- Runs round(1), round(2) ... at least min times, and on until the
    -- thread has written answers (at most 30 rounds): each round checks
    -- the answers, the rounds together that the thread wrote some.
    local function rounds(min, round)
        local before, n = thread_writes(srv), 0
        repeat
            n = n + 1
            round(n)
        until n >= min and (thread_writes(srv) > before or n >= 30)
        assert.is_true(thread_writes(srv) > before, "no answers went through the sender thread")
    end

    it("reach each of 100 connections whole and in order", function()
        local conns = open(srv, 100)
        rounds(5, function(round)
            burst(function() send_pings(conns, round * 100, 2) end)
            for k, c in ipairs(conns) do expect_pings(c, k, round * 100, 2) end
        end)
        for _, c in ipairs(conns) do c:close() end
    end)

    it("keep a connection that stops reading apart: the rest waits for it, in order",
        function()
            -- Connection 1, with a receive buffer of a few KiB, asks for 60 kB
            -- of answers in each of 60 rounds (its lines in one of the server's
            -- 64 KiB reads, so in the same batch) and reads none of them, while 79
            -- others are answered in the same batches; its socket fills (on
            -- loopback the kernel takes a megabyte or more first), the
            -- thread hands back what it would not take, and the bufferevent
            -- waits for the socket. Then it reads every answer, in order.
            local slow = assert(e2e.connect(srv.port, nil, {recv_buffer = 4096}))
            local others = open(srv, 79)
            local before = thread_writes(srv)
            for round = 0, 59 do
                burst(function()
                    local buf = {}
                    for i = 1, 20 do buf[i] = slow:request("ping", nil, wide_id(round * 20 + i)) end
                    slow:send_raw(table.concat(buf)) -- 60 kB: the stopped server's socket takes it
                    send_pings(others, round * 100, 1)
                end)
                for j, c in ipairs(others) do expect_pings(c, j, round * 100, 1) end
            end
            for i = 1, 1200 do assert.are.equal(wide_id(i), assert(slow:recv()).id) end
            assert.is_true(slow:call("ping").ok)
            assert.is_true(thread_writes(srv) > before, "no answers went through the sender thread")
            slow:close()
            for _, c in ipairs(others) do c:close() end
        end)

    it("of connections that closed meanwhile never reach the connections after them", function()
        -- 100 clients send and hang up without reading, their answers on
        -- the way (their sockets' descriptors free again once the answers
        -- are back from the thread); the next 100, on descriptors reused,
        -- get their own answers and nothing else.
        rounds(4, function(round)
            local gone = open(srv, 100)
            burst(function() send_pings(gone, 0, 2) end)
            for _, c in ipairs(gone) do c:close() end -- while the server answers them
            local conns = open(srv, 100)
            burst(function() send_pings(conns, round * 1000, 1) end)
            for k, c in ipairs(conns) do expect_pings(c, k, round * 1000, 1) end
            -- and the next line each reads is the answer to its next request
            for k, c in ipairs(conns) do c:send("ping", nil, id_of(k, 999999)) end
            for k, c in ipairs(conns) do
                assert.are.equal(id_of(k, 999999), assert(c:recv()).id)
                c:close()
            end
        end)
        assert.is_true(srv:connect():call("ping").ok)
    end)
end)

-- A job out while the loop runs on. With tests/lib/slowsend.c LD_PRELOADed,
-- a write of the sender thread that a full socket cuts short returns only
-- 200 ms later, so the connection's job stays out while the loop answers
-- the connection's next requests: those answers wait behind the job, and
-- what the socket did not take must go back in front of them
-- (server.c, sent_cb). Without the shim the job comes back within
-- microseconds and no client could tell front from back.
describe("answers released while a connection's job is out", function()
    local srv
    before_each(function()
        srv = e2e.server{args = "--http 127.0.0.1:0", no_start = true}
        srv:preload("slowsend", "CORDER_SLOWSEND_US=200000"):start()
    end)
    after_each(function() srv:cleanup() end)

    it("come after what the full socket did not take", function()
        -- As above: connection 1 (a receive buffer of a few KiB) asks for
        -- 60 kB of answers a round among 79 others and reads none until
        -- the end; its socket fills after a megabyte or more. Each round it
        -- then asks for 15 kB more, 50 ms after the round's batch (by then
        -- read, run and released): those are answered in a later batch,
        -- while its job is out once the socket is full. Every answer of it
        -- carries the next number in the order it was asked.
        local slow = assert(e2e.connect(srv.port, nil, {recv_buffer = 4096}))
        local others = open(srv, 79)
        local seq = 0
        local function ask(n)
            local buf = {}
            for i = 1, n do
                seq = seq + 1
                buf[i] = slow:request("ping", nil, wide_id(seq))
            end
            slow:send_raw(table.concat(buf))
        end
        local before = thread_writes(srv)
        for round = 0, 79 do
            srv:signal("STOP")
            ask(20)
            send_pings(others, round * 100, 1)
            srv:signal("CONT")
            e2e.sleep(0.05) -- the round's batch read, run and released
            ask(5)
            for j, c in ipairs(others) do expect_pings(c, j, round * 100, 1) end
        end
        for i = 1, seq do assert.are.equal(wide_id(i), assert(slow:recv()).id) end
        assert.is_true(slow:call("ping").ok)
        assert.is_true(thread_writes(srv) > before, "no answers went through the sender thread")
        slow:close()
        for _, c in ipairs(others) do c:close() end
    end)
end)
