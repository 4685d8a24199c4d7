-- e2e.lua: helpers for the end-to-end specs (tests/e2e/), in the manner of
-- Neovim's functional tests: start the real `corder serve` on a fresh
-- database in a temp dir, talk to it over TCP with JSON lines, stop it.
--
--   local e2e = require "e2e"
--   local srv = e2e.server()          -- init + serve on a free port
--   local c = srv:connect()
--   c:login("S001", "1001", "1234")
--   local r = c:call("order.get", {number = "S001-1"})
--   srv:stop()                        -- SIGTERM; returns the exit status
--   srv:cleanup()
local socket = require "socket"
local cjson = require "cjson"

local M = {}

M.root = os.getenv("CORDER_ROOT") or "."
M.bin = os.getenv("CORDER_BIN") or (M.root .. "/build/corder")
-- The build tree: the bench tools and the test shims (tests/lib/*.so).
M.build = os.getenv("CORDER_BUILD") or (M.root .. "/build")
M.MAX_LINE = 1024 * 1024
M.null = cjson.null

-- The test fixture: tests own their data (two stores, three staff of the
-- brief, a sync-mode store S003), so demo data can change freely.
M.seed = M.root .. "/tests/e2e/seed.json"

function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function M.sh(cmd)
    local ok, how, code = os.execute(cmd)
    if how == "exit" then return code end
    return 128 + (code or 0)
end

-- Starts a shell command in the background, its stdout and stderr to the
-- file out; its exit status is written to the file status once it ends,
-- through a temporary file renamed into place, so that a reader waiting
-- for status never sees it made but not yet written.
function M.sh_bg(cmd, out, status)
    M.sh("(" .. cmd .. " >" .. M.q(out) .. " 2>&1; echo $? >" .. M.q(status .. ".tmp") .. "; mv "
        .. M.q(status .. ".tmp") .. " " .. M.q(status) .. ") >/dev/null 2>&1 &")
end

-- Runs a shell command; returns its stdout without the trailing newline.
function M.sh_out(cmd)
    local p = io.popen(cmd)
    local out = p:read("a")
    p:close()
    return (out:gsub("%s+$", ""))
end

function M.read_file(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local s = f:read("a")
    f:close()
    return s
end

function M.write_file(path, text)
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
end

-- Every directory made here goes when the spec's Lua state closes (busted
-- ends with os.exit(code, true), which runs finalizers), also those of a
-- spec that failed before its own clean-up.
local made = {}
M.made_gone = setmetatable({}, {__gc = function()
    if #made == 0 then return end
    local q = {}
    for i, d in ipairs(made) do q[i] = M.q(d) end
    os.execute("rm -rf " .. table.concat(q, " "))
end})

function M.tmpdir()
    local p = io.popen("mktemp -d /tmp/corder-e2e.XXXXXX")
    local d = p:read("l")
    p:close()
    made[#made + 1] = d
    return d
end

function M.sleep(s) socket.sleep(s) end
function M.now() return socket.gettime() end

-- A date `days` from today (UTC; the stores are near UTC, and tests use
-- a margin of days, never hours).
function M.date(days) return os.date("!%Y-%m-%d", os.time() + days * 86400) end

-- Polls fn until it returns a true value or timeout seconds pass.
function M.wait_for(fn, timeout, what)
    local deadline = M.now() + (timeout or 10)
    while true do
        local v = fn()
        if v then return v end
        if M.now() > deadline then error("timed out waiting for " .. (what or "condition"), 2) end
        M.sleep(0.02)
    end
end

-- Runs `corder ARGS...`; returns exit code, stdout, stderr.
function M.run(args)
    local dir = M.tmpdir()
    local code = M.sh(M.q(M.bin) .. " " .. args .. " >" .. dir .. "/o 2>" .. dir .. "/e </dev/null")
    local out, err = M.read_file(dir .. "/o"), M.read_file(dir .. "/e")
    M.sh("rm -rf " .. M.q(dir))
    return code, out, err
end

---------------------------------------------------------------------------
-- client
local Client = {}
Client.__index = Client

-- opts.recv_buffer: the socket's receive buffer in bytes (set before
-- connecting, so that the window stays that small).
function M.connect(port, host, opts)
    -- (tcp4: a tcp() object has no socket to set options on before it connects)
    local s = assert(opts and opts.recv_buffer and socket.tcp4() or socket.tcp())
    s:settimeout(10)
    if opts and opts.recv_buffer then assert(s:setoption("recv-buffer-size", opts.recv_buffer)) end
    local ok, err = s:connect(host or "127.0.0.1", port)
    if not ok then
        s:close()
        return nil, err
    end
    s:setoption("tcp-nodelay", true)
    return setmetatable({sock = s, next_id = 0}, Client)
end

function Client:settimeout(t) self.sock:settimeout(t) end

-- Sends raw bytes (add your own "\n").
function Client:send_raw(bytes)
    local i = 1
    while i <= #bytes do
        local last, err, partial = self.sock:send(bytes, i)
        if not last then
            if err ~= "timeout" then return nil, err end
            last = partial
        end
        i = last + 1
    end
    return true
end

-- The request line (with its "\n"); id defaults to the next number.
function Client:request(op, args, id)
    if id == nil then
        self.next_id = self.next_id + 1
        id = self.next_id
    end
    local req = {id = id, op = op}
    if args ~= nil then req.args = args end
    return (cjson.encode(req) .. "\n")
end

-- Sends one request, does not wait; returns its id.
function Client:send(op, args, id)
    if id == nil then
        self.next_id = self.next_id + 1
        id = self.next_id
    end
    assert(self:send_raw(self:request(op, args, id)))
    return id
end

-- Reads one response line; returns the decoded table, or nil and an error
-- ("closed", "timeout", or a decode error with the raw line).
function Client:recv()
    local line, err = self.sock:receive("*l")
    if not line then return nil, err end
    local ok, v = pcall(cjson.decode, line)
    if not ok then return nil, "undecodable: " .. line end
    return v
end

function Client:call(op, args)
    local id = self:send(op, args)
    local r, err = self:recv()
    assert(r, "no answer to " .. op .. ": " .. tostring(err))
    assert(r.id == id, "answer id " .. tostring(r.id) .. " for request " .. tostring(id))
    return r
end

-- Calls and insists on ok; returns the result.
function Client:ok(op, args)
    local r = self:call(op, args)
    if not r.ok then
        error(op .. " failed: " .. cjson.encode(r.error), 2)
    end
    return r.result
end

function Client:login(store, staff, pin)
    return self:ok("session.login", {store = store, staff = staff, pin = pin})
end

-- Whether the server has closed the connection (reads until EOF).
function Client:closed(timeout)
    self.sock:settimeout(timeout or 5)
    while true do
        local line, err = self.sock:receive("*l")
        if not line then return err == "closed" end
    end
end

function Client:close() self.sock:close() end

---------------------------------------------------------------------------
-- server
local Server = {}
Server.__index = Server

-- opts: seed (file), policies (dir), args (extra serve args), no_start.
function M.server(opts)
    opts = opts or {}
    local self = setmetatable({}, Server)
    self.dir = M.tmpdir()
    self.db = self.dir .. "/t.db"
    self.policies = opts.policies or (M.root .. "/policies")
    self.args = opts.args or ""
    local code, out, err = M.run("init --db " .. M.q(self.db) .. " --seed " .. M.q(opts.seed or M.seed))
    if code ~= 0 then
        error("corder init failed (" .. code .. "): " .. tostring(err) .. tostring(out))
    end
    if not opts.no_start then self:start() end
    return self
end

function Server:serve_command()
    return M.q(M.bin) .. " serve --db " .. M.q(self.db) .. " --listen 127.0.0.1:0 --policies "
        .. M.q(self.policies) .. " " .. self.args
end

-- Starts the server in the background; a wrapper shell records its pid and
-- later its exit status.
function Server:start()
    local d = self.dir
    os.remove(d .. "/out"); os.remove(d .. "/rc"); os.remove(d .. "/pid")
    M.sh("(" .. self:serve_command() .. " >" .. d .. "/out 2>>" .. d .. "/err </dev/null & echo $! >"
        .. d .. "/pid.tmp; mv " .. d .. "/pid.tmp " .. d .. "/pid; wait $!; echo $? >" .. d
        .. "/rc.tmp; mv " .. d .. "/rc.tmp " .. d .. "/rc) >/dev/null 2>&1 &")
    self.pid = tonumber(M.wait_for(function() return M.read_file(d .. "/pid") end, 10, "pid"))
    local line = M.wait_for(function()
        local rc = M.read_file(d .. "/rc")
        if rc then error("server exited (" .. rc:gsub("%s", "") .. "): " .. (M.read_file(d .. "/err") or "")) end
        local out = M.read_file(d .. "/out") or ""
        return out:match("([^\n]*)\n")
    end, 20, "the listening line")
    local port = line:match("^corder listening on 127%.0%.0%.1:(%d+)$")
    assert(port, "unexpected listening line: " .. line)
    self.port = tonumber(port)
    if self.args:find("--http", 1, true) then -- its line comes second
        self.http_port = tonumber(M.wait_for(function()
            return (M.read_file(d .. "/out") or ""):match("\ncorder http on http://127%.0%.0%.1:(%d+)/\n")
        end, 20, "the http line"))
    end
    return self
end

-- One HTTP/1.1 request to the server's --http port (Connection: close);
-- returns status, headers (lower-case names; set-cookie as a list), body.
-- opts: headers = {name = value}, body = string, raw = bytes sent as they are.
function Server:http(method, path, opts)
    opts = opts or {}
    local s = assert(socket.tcp())
    s:settimeout(30)
    assert(s:connect("127.0.0.1", self.http_port))
    local req = opts.raw
    if not req then
        local h = {method .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1:" .. self.http_port,
            "Connection: close"}
        for k, v in pairs(opts.headers or {}) do h[#h + 1] = k .. ": " .. v end
        if opts.body then
            h[#h + 1] = "Content-Length: " .. #opts.body
            if not (opts.headers or {})["Content-Type"] then
                h[#h + 1] = "Content-Type: application/x-www-form-urlencoded"
            end
        end
        req = table.concat(h, "\r\n") .. "\r\n\r\n" .. (opts.body or "")
    end
    s:send(req)
    local all = s:receive("*a") or ""
    s:close()
    local head, body = all:match("^(.-)\r\n\r\n(.*)$")
    if not head then return nil, {}, all end
    local status = tonumber(head:match("^HTTP/1%.%d (%d+)"))
    local headers = {["set-cookie"] = {}}
    for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do
        name = name:lower()
        if name == "set-cookie" then
            table.insert(headers["set-cookie"], value)
        else
            headers[name] = value
        end
    end
    return status, headers, body
end

-- Signs in on the page; returns the session cookie ("corder_session=…").
function Server:http_login(store, staff, pin)
    local status, h = self:http("POST", "/login", {body = "store=" .. store .. "&staff=" .. staff
        .. "&pin=" .. pin})
    assert(status == 303, "sign-in answered " .. tostring(status))
    return h["set-cookie"][1]:match("^([^;]+)")
end

function Server:connect()
    return assert(M.connect(self.port))
end

function Server:signal(sig) M.sh("kill -" .. sig .. " " .. self.pid .. " 2>/dev/null") end

-- Waits for the server to exit; returns its exit status.
function Server:wait(timeout)
    local rc = M.wait_for(function() return M.read_file(self.dir .. "/rc") end, timeout or 20, "exit")
    self.pid = nil
    return tonumber(rc:match("%d+"))
end

function Server:stop(sig)
    if not self.pid then return nil end
    self:signal(sig or "TERM")
    return self:wait()
end

function Server:kill9()
    if not self.pid then return nil end
    self:signal("KILL")
    return self:wait()
end

function Server:stderr() return M.read_file(self.dir .. "/err") or "" end

-- The value of one sample in Prometheus text (name with its labels, as
-- written); 0 when absent.
function M.metric(text, name_and_labels)
    local pat = "\n" .. name_and_labels:gsub("[%.%-%+%[%]%(%)%$%^%%%?%*]", "%%%0") .. " ([%d%.e%+%-]+)"
    local v = ("\n" .. text):match(pat)
    return v and tonumber(v) or 0
end

-- One sample of the server's /metrics (it runs with --http).
function Server:metric(name_and_labels)
    local status, _, body = self:http("GET", "/metrics")
    assert(status == 200, "/metrics answered " .. tostring(status))
    return M.metric(body, name_and_labels)
end

-- Runs the server (from its next start) with the test shim NAME.so of the
-- build (tests/lib/NAME.c) LD_PRELOADed after what is preloaded already
-- (the sanitizers' runtime), and env ("VAR=value ...", quoted by the
-- caller) in its environment.
function Server:preload(name, env)
    local shim = M.build .. "/" .. name .. ".so"
    local preload = os.getenv("LD_PRELOAD")
    preload = (preload and preload ~= "" and (preload .. ":") or "") .. shim
    local serve = self.serve_command
    self.serve_command = function(me)
        return (env or "") .. " LD_PRELOAD=" .. M.q(preload) .. " " .. serve(me)
    end
    return self
end

function Server:cleanup()
    if self.pid then pcall(Server.kill9, self) end
    M.sh("rm -rf " .. M.q(self.dir))
end

-- sqlite3 CLI on the database; returns its output.
function Server:sql(query)
    local p = io.popen("sqlite3 " .. M.q(self.db) .. " " .. M.q(query) .. " 2>&1")
    local out = p:read("a")
    p:close()
    return out
end

---------------------------------------------------------------------------
-- the shapes of PROTOCOL.md, for the specs

-- A hybrid order for C0001: ship P100 home, pick P200 up at S001, carry
-- P300 out.
function M.hybrid_order()
    return {
        customer = "C0001",
        type = "order",
        lines = {
            {item = "P100", qty = 1, delivery = {mode = "ship", address = "home", date = M.date(7)}},
            {item = "P200", qty = 2, delivery = {mode = "pickup", store = "S001", date = M.date(3)}},
            {item = "P300", qty = 1, delivery = {mode = "carryout"}},
        },
    }
end

-- A cash-and-carry sale of one P300, paid in full.
function M.carryout_order(key)
    return {
        customer = "C0001",
        type = "order",
        lines = {{item = "P300", qty = 1, delivery = {mode = "carryout"}}},
        payments = {{tender = "cash", amount = 1999}},
        idempotency_key = key,
    }
end

-- Calls op; when the answer is payment_mismatch, pays details.due in cash
-- and calls again. Returns the final response.
function Client:call_paying(op, args)
    local r = self:call(op, args)
    if not r.ok and r.error.code == "payment_mismatch" and r.error.details
        and type(r.error.details.due) == "number" then
        args.payments = r.error.details.due > 0 and {{tender = "cash", amount = r.error.details.due}} or nil
        r = self:call(op, args)
    end
    return r
end

---------------------------------------------------------------------------
-- HQ and stores together (SPEC section 6; tests/e2e/sync_spec.lua,
-- hq_spec.lua): an HQ server on a fixed port (so a restart keeps its
-- address) and store servers that upload to it.
--
--   local hq = e2e.hq()                       -- init + serve --role hq
--   local st = e2e.store(hq.port)             -- serve --hq 127.0.0.1:PORT
--   local h = hq:connect(); h:login_store("S001")
M.HQ_TOKEN = "e2e-hq-token"

-- HQ's storage backend for this run (SPEC C1: the same specs on both):
-- CORDER_HQ_BACKEND=pg makes e2e.hq() use a fresh database of its own in
-- the private PostgreSQL cluster that ctest started (tests/lib/pg.sh,
-- directory CORDER_PG_DIR); otherwise SQLite in HQ's own --db.
M.hq_backend = os.getenv("CORDER_HQ_BACKEND") or "sqlite"
M.pg_dir = os.getenv("CORDER_PG_DIR")
M.pg_sh = M.root .. "/tests/lib/pg.sh"

local function capture(cmd)
    local p = io.popen(cmd)
    local out = p:read("a")
    local ok = p:close()
    return out, ok
end

-- PostgreSQL's own tools run without the sanitizer runtime that
-- `make test-asan` preloads into everything busted starts (psql hangs
-- with it).
local PLAIN = "env -u LD_PRELOAD -u ASAN_OPTIONS "

-- A new, empty database in the test cluster; returns its URL.
function M.pg_database()
    assert(M.pg_dir, "CORDER_PG_DIR is not set: run this spec through ctest")
    -- A name no other spec can draw: busted seeds math.random with the
    -- time, so two specs started in the same second drew the same numbers
    -- (and CREATE DATABASE failed on the duplicate name).
    local f = assert(io.open("/dev/urandom", "rb"))
    local name = "hq_" .. f:read(8):gsub(".", function(c) return string.format("%02x", c:byte()) end)
    f:close()
    local out, ok = capture(PLAIN .. "bash " .. M.q(M.pg_sh) .. " createdb " .. M.q(M.pg_dir) .. " " .. name .. " 2>&1")
    assert(ok, "createdb failed: " .. out)
    return (out:gsub("%s+$", ""))
end

-- Query on a PostgreSQL URL, output as the sqlite3 CLI prints it (| between columns).
function M.psql(url, query)
    return (capture(PLAIN .. "psql -X -q -At ".. M.q(url) .. " -c " .. M.q(query) .. " 2>&1"))
end

-- A port nobody listens on right now.
function M.free_port()
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    return tonumber(port)
end

-- The test seed changed by fn(seed) (a table), written into dir; returns the path.
function M.seed_variant(dir, name, fn)
    local t = cjson.decode(M.read_file(M.seed))
    fn(t)
    local path = dir .. "/" .. name .. ".json"
    M.write_file(path, cjson.encode(t))
    return path
end

-- Makes the server listen on a fixed port from its next start on.
function Server:listen_on(port)
    self.fixed_port = port
    self.serve_command = function(me)
        return (Server.serve_command(me):gsub("%-%-listen 127%.0%.0%.1:0",
            "--listen 127.0.0.1:" .. port))
    end
    return self
end

-- opts: seed, policies, port, token (false: no shared token), sync_interval,
-- args, no_start, backend ("sqlite" or "pg"; default M.hq_backend), hq_db (a
-- PostgreSQL URL to share: several HQ processes on one database).
function M.hq(opts)
    opts = opts or {}
    local args = "--role hq"
    if opts.token ~= false then args = args .. " --hq-token " .. M.q(opts.token or M.HQ_TOKEN) end
    if opts.sync_interval then args = args .. " --sync-interval " .. opts.sync_interval end
    local backend = opts.backend or (opts.hq_db and "pg") or M.hq_backend
    local url
    if backend == "pg" then
        url = opts.hq_db
        if not url then
            url = M.pg_database()
            local code, out, err = M.run("init --hq-db " .. M.q(url) .. " --seed " .. M.q(opts.seed or M.seed))
            if code ~= 0 then error("corder init --hq-db failed (" .. code .. "): " .. tostring(err) .. tostring(out)) end
        end
        args = args .. " --hq-db " .. M.q(url)
    end
    args = args .. " " .. (opts.args or "")
    local srv = M.server({seed = opts.seed, policies = opts.policies, args = args, no_start = true})
    srv.hq_db = url
    srv:listen_on(opts.port or M.free_port())
    srv.port = srv.fixed_port
    if not opts.no_start then srv:start() end
    return srv
end

-- HQ's storage, whichever backend: SQL on it (the columns the specs read
-- are the same in both), and master data re-seeded while it runs.
function Server:hq_sql(query)
    if self.hq_db then return M.psql(self.hq_db, query) end
    return self:sql(query)
end

function Server:hq_seed(seed)
    -- On PostgreSQL both: the orders' checks there, the master data stores
    -- follow (SPEC C4) in HQ's own database.
    if self.hq_db then
        return M.run("init --db " .. M.q(self.db) .. " --hq-db " .. M.q(self.hq_db) .. " --seed " .. M.q(seed))
    end
    return M.run("init --db " .. M.q(self.db) .. " --seed " .. M.q(seed))
end

-- `corder hq token` for this HQ; returns the new token (revoke: nil).
function Server:hq_token(store, revoke)
    local where = self.hq_db and ("--hq-db " .. M.q(self.hq_db)) or ("--db " .. M.q(self.db))
    local code, out, err = M.run("hq token " .. where .. " --store " .. M.q(store) .. (revoke and " --revoke" or ""))
    assert(code == 0, "corder hq token failed: " .. tostring(err))
    if revoke then return nil end
    return (out:gsub("%s+$", ""))
end

-- A store server uploading to HQ at hq_port. opts: seed, policies, token, args, no_start.
-- hq_port: a port on 127.0.0.1 (or opts.host), or a whole --hq value ("A,B").
function M.store(hq_port, opts)
    opts = opts or {}
    local hq = type(hq_port) == "string" and hq_port or ((opts.host or "127.0.0.1") .. ":" .. hq_port)
    local args = "--hq " .. M.q(hq) .. " --hq-token " .. M.q(opts.token or M.HQ_TOKEN)
        .. " " .. (opts.args or "")
    return M.server({seed = opts.seed, policies = opts.policies, args = args, no_start = opts.no_start})
end

function Client:login_store(store, token)
    return self:ok("session.login_store", {store = store, token = token or M.HQ_TOKEN})
end

return M
