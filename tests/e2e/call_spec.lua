-- call_spec.lua: `corder call` (SPEC OP4, PROTOCOL.md "Command line"): one
-- op from the shell or a scripted session from stdin; the PIN from
-- $CORDER_PIN or the terminal (never echoed, never an argument); exit 0 if
-- ok, 1 with the error on stderr, 2 on bad usage.
local e2e = require "e2e"
local cjson = require "cjson"

describe("OP4: corder call", function()
    local srv, connect
    setup(function()
        srv = e2e.server()
        connect = "--connect 127.0.0.1:" .. srv.port
    end)
    teardown(function() srv:cleanup() end)

    -- Runs `[env] corder call ARGS` with stdin from text; code, stdout, stderr.
    local function call(args, stdin, env)
        local dir = e2e.tmpdir()
        e2e.write_file(dir .. "/in", stdin or "")
        local code = e2e.sh((env or "") .. " " .. e2e.q(e2e.bin) .. " call " .. args .. " <" .. dir
            .. "/in >" .. dir .. "/o 2>" .. dir .. "/e")
        local out, err = e2e.read_file(dir .. "/o"), e2e.read_file(dir .. "/e")
        e2e.sh("rm -rf " .. e2e.q(dir))
        return code, out, err
    end
    local PIN = "CORDER_PIN=1234"

    it("OP4: one op, its result pretty-printed, exit 0", function()
        local code, out, err = call(connect .. " ping")
        assert.are.equal(0, code)
        assert.are.equal("", err)
        assert.are.equal('{\n  "pong": true\n}\n', out)
    end)

    it("OP4: signs in with the PIN from $CORDER_PIN and runs a write", function()
        local code, out, err = call(connect .. " --login S001:1001 order.create "
            .. e2e.q(cjson.encode(e2e.carryout_order("call-1"))), nil, PIN)
        assert.are.equal(0, code, err)
        local o = cjson.decode(out)
        assert.matches("^S001%-", o.number)
        assert.matches('\n  "number": ', out) -- indented
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        assert.are.equal(o.number, c:ok("order.get", {number = o.number}).number)
        c:close()
    end)

    it("OP4: an error exits 1 with its code and message on stderr", function()
        local code, out, err = call(connect .. " --login S001:1001 order.get '{\"number\":\"S001-999999\"}'",
            nil, PIN)
        assert.are.equal(1, code)
        assert.are.equal("", out)
        assert.matches("^corder: not_found: ", err)
        code, _, err = call(connect .. " --login S001:1001 ping", nil, "CORDER_PIN=0000")
        assert.are.equal(1, code)
        assert.matches("^corder: unauthenticated: ", err)
        code, _, err = call(connect .. " order.find '{}'")
        assert.are.equal(1, code)
        assert.matches("^corder: unauthenticated: ", err)
    end)

    it("OP4: asks for the PIN on the terminal without echoing it", function()
        -- script(1) gives the client a terminal; the PIN is typed after the
        -- prompt is up. Neither the typed PIN nor the command line shows it.
        local dir = e2e.tmpdir()
        local code = e2e.sh("(sleep 1; echo 1234) | script -qec " .. e2e.q(e2e.q(e2e.bin) .. " call "
            .. connect .. " --login S001:1001 order.find '{}'") .. " /dev/null >" .. dir .. "/o 2>&1")
        local out = e2e.read_file(dir .. "/o")
        e2e.sh("rm -rf " .. e2e.q(dir))
        assert.are.equal(0, code, out)
        assert.matches("PIN for staff 1001 at S001:", out)
        assert.matches('"orders"', out)
        assert.is_nil(out:find("1234", 1, true), "the PIN was echoed: " .. out)
    end)

    it("OP4: without a PIN and without a terminal it is bad usage, and nothing is sent", function()
        local code, out, err = call(connect .. " --login S001:1001 ping")
        assert.are.equal(2, code)
        assert.are.equal("", out)
        assert.matches("CORDER_PIN", err)
    end)

    it("OP4: a session from stdin, ids filled in, every answer printed", function()
        local lines = table.concat({
            "# a scripted session",
            '{"op":"ping"}',
            "",
            '{"id":"mine","op":"order.create","args":' .. cjson.encode(e2e.carryout_order("call-2")) .. "}",
            '{"op":"order.get","args":{"number":"S001-999999"}}',
            '{"op":"order.find","args":{}}',
        }, "\n") .. "\n"
        local code, out, err = call(connect .. " --login S001:1001", lines, PIN)
        assert.are.equal(1, code, err) -- one answer was not ok
        local answers = {}
        for l in out:gmatch("[^\n]+") do answers[#answers + 1] = cjson.decode(l) end
        assert.are.equal(4, #answers)
        assert.are.same({true, true, false, true},
            {answers[1].ok, answers[2].ok, answers[3].ok, answers[4].ok})
        assert.are.equal(1, answers[1].id)
        assert.are.equal("mine", answers[2].id)
        assert.are.equal("not_found", answers[3].error.code)
        code, out = call(connect, '{"op":"ping"}\n{"op":"ping"}\n')
        assert.are.equal(0, code)
        assert.are.equal('{"id":1,"ok":true,"result":{"pong":true}}\n{"id":2,"ok":true,"result":{"pong":true}}\n', out)
    end)

    it("OP4: bad usage exits 2 and says how", function()
        for _, args in ipairs({
            connect .. " ping '[1,2]'",
            connect .. " ping '{\"a\":'",
            connect .. " --login S001 ping",
            "--connect nowhere ping",
            connect .. " --what ping",
            connect .. " ping '{}' extra",
            connect .. " --login",
        }) do
            local code, _, err = call(args, nil, PIN)
            assert.are.equal(2, code, args)
            assert.matches("usage: corder call", err, nil, false, args)
        end
        -- a stdin line that is not a JSON object, or longer than the server's 1 MiB
        assert.are.equal(2, (call(connect, "[1]\n")))
        assert.are.equal(2, (call(connect, '{"op":"ping","x":"' .. ("a"):rep(e2e.MAX_LINE) .. '"}\n')))
    end)

    it("OP4: a server that is not there is a runtime failure, exit 1", function()
        local code, _, err = call("--connect 127.0.0.1:" .. e2e.free_port() .. " ping")
        assert.are.equal(1, code)
        assert.matches("cannot connect", err)
    end)
end)
