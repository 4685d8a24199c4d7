-- http_browser_spec.lua: the customer-orders page in a real browser (SPEC
-- OP2): Debian's headless chromium driven through chromedriver (WebDriver,
-- plain HTTP and JSON). Sign in, filter, open an order; a wrong PIN and a
-- missing cookie are refused. The order page's screenshot is kept as a test
-- artifact: build/artifacts/orders.png.
local e2e = require "e2e"
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

local function which(cmd)
    return e2e.sh("command -v " .. cmd .. " >/dev/null 2>&1") == 0
end

-- One WebDriver call; returns the answer's value (errors raise).
local function wd(port, method, path, body)
    local out = {}
    local data = body and cjson.encode(body) or nil
    local _, code = http.request{
        url = "http://127.0.0.1:" .. port .. path, method = method,
        source = data and ltn12.source.string(data) or nil,
        headers = data and {["Content-Type"] = "application/json", ["Content-Length"] = #data} or nil,
        sink = ltn12.sink.table(out),
    }
    local ans = cjson.decode(table.concat(out))
    if code ~= 200 then
        error(method .. " " .. path .. ": " .. tostring(code) .. " " .. cjson.encode(ans.value))
    end
    return ans.value
end

local Browser = {}
Browser.__index = Browser

local function browser()
    local self = setmetatable({}, Browser)
    self.dir = e2e.tmpdir()
    self.port = e2e.free_port()
    -- Under the sanitizer run the specs preload ASan into every child they
    -- start; chromium is not built for it, so its driver starts without.
    e2e.sh("(env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS chromedriver --port=" .. self.port .. " >" .. self.dir .. "/driver.log 2>&1 & echo $! >"
        .. self.dir .. "/pid) >/dev/null 2>&1")
    self.pid = e2e.wait_for(function() return e2e.read_file(self.dir .. "/pid") end, 10, "pid")
    e2e.wait_for(function()
        local ok, v = pcall(wd, self.port, "GET", "/status")
        return ok and v.ready
    end, 20, "chromedriver")
    local args = {"--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1024,1366", "--user-data-dir=" .. self.dir .. "/profile"}
    -- CI runs as root, where chromium's sandbox cannot start.
    if e2e.sh("test \"$(id -u)\" = 0") == 0 then table.insert(args, "--no-sandbox") end
    local v = wd(self.port, "POST", "/session", {capabilities = {alwaysMatch = {
        ["goog:chromeOptions"] = {binary = "/usr/bin/chromium", args = args}}}})
    self.session = v.sessionId
    -- a form's answer may take a PIN check: finding waits up to 10 s
    self:call("POST", "/timeouts", {implicit = 10000})
    return self
end

function Browser:call(method, path, body)
    return wd(self.port, method, "/session/" .. self.session .. path, body)
end
function Browser:go(url) return self:call("POST", "/url", {url = url}) end
function Browser:find(css)
    local v = self:call("POST", "/element", {using = "css selector", value = css})
    return v[ELEMENT] or error("no element " .. css .. ": " .. cjson.encode(v))
end
function Browser:type(css, text) self:call("POST", "/element/" .. self:find(css) .. "/value", {text = text}) end
function Browser:click(css) self:call("POST", "/element/" .. self:find(css) .. "/click", {}) end
function Browser:source() return self:call("GET", "/source") end
function Browser:url() return self:call("GET", "/url") end
-- Waits until the browser is at url (a form's answer may take a moment).
function Browser:wait_url(url)
    return e2e.wait_for(function() return self:url() == url end, 10, url)
end
function Browser:text(css) return self:call("GET", "/element/" .. self:find(css) .. "/text") end
function Browser:screenshot(path)
    local b64 = self:call("GET", "/screenshot")
    e2e.write_file(self.dir .. "/shot.b64", b64)
    assert(e2e.sh("base64 -d " .. self.dir .. "/shot.b64 >" .. e2e.q(path)) == 0)
end
function Browser:quit()
    if self.session then pcall(wd, self.port, "DELETE", "/session/" .. self.session) end
    if self.pid then e2e.sh("kill " .. self.pid:gsub("%s", "") .. " 2>/dev/null") end
    e2e.sh("rm -rf " .. e2e.q(self.dir))
end

describe("the customer-orders page in a real browser (OP2)", function()
    local srv, b
    setup(function()
        assert(which("chromedriver") and which("chromium"),
            "chromium and chromium-driver are test dependencies (make deps)")
    end)
    before_each(function() srv = e2e.server{args = "--http 127.0.0.1:0"} end)
    after_each(function()
        if b then b:quit() end
        b = nil
        srv:cleanup()
    end)

    it("OP2: sign in, filter, open an order; a wrong PIN and a missing cookie are refused", function()
        local c = srv:connect()
        c:login("S001", "1001", "1234")
        local r = c:call_paying("order.create", e2e.hybrid_order())
        assert(r.ok, r.error and r.error.message)
        local number = r.result.number
        local r2 = c:call_paying("order.create", e2e.hybrid_order())
        assert(c:call("order.cancel", {number = r2.result.number, version = r2.result.version,
            reason = "test"}).ok)
        local base = "http://127.0.0.1:" .. srv.http_port

        b = browser()
        -- no cookie: the orders page sends the browser to sign in
        b:go(base .. "/orders/" .. number)
        assert.are.equal(base .. "/", b:url())
        assert.truthy(b:source():find('name="pin"', 1, true))

        -- a wrong PIN is refused
        b:type('input[name="store"]', "S001")
        b:type('input[name="staff"]', "1001")
        b:type('input[name="pin"]', "9999")
        b:click("#signin")
        assert.truthy(b:text('[role="alert"]'):find("PIN"))
        assert.are.equal(0, #b:call("GET", "/cookie"))

        -- the right one signs in (the form kept store and staff)
        b:type('input[name="pin"]', "1234")
        b:click("#signin")
        b:wait_url(base .. "/orders")
        local cookie = b:call("GET", "/cookie")[1]
        assert.are.equal("corder_session", cookie.name)
        assert.is_true(cookie.httpOnly)
        assert.are.equal("Strict", cookie.sameSite)
        assert.is_number(cookie.expiry)
        assert.truthy(b:source():find(number, 1, true))

        -- filter: cancelled orders only
        b:call("POST", "/element/" .. b:find('#status option[value="cancelled"]') .. "/click", {})
        b:click("#filter")
        e2e.wait_for(function() return b:url():find("status=cancelled", 1, true) end, 10, "filtered")
        local list = b:source()
        assert.truthy(list:find(r2.result.number, 1, true))
        assert.falsy(list:find(">" .. number .. "<", 1, true))

        -- back to all, open the first order
        b:go(base .. "/orders")
        b:click('a[href="/orders/' .. number .. '"]')
        b:wait_url(base .. "/orders/" .. number)
        assert.truthy(b:text("#number"):find(number, 1, true))
        assert.truthy(b:text("#customer"):find("Karin Smit", 1, true))
        assert.truthy(b:text("#lines"):find("Oak table", 1, true))
        local dir = (os.getenv("CORDER_BUILD") or "build") .. "/artifacts"
        e2e.sh("mkdir -p " .. e2e.q(dir))
        b:screenshot(dir .. "/orders.png")
        local png = e2e.read_file(dir .. "/orders.png")
        assert.are.equal("\137PNG", png:sub(1, 4))

        -- the cookie gone, the page is refused again
        b:call("DELETE", "/cookie")
        b:go(base .. "/orders/" .. number)
        assert.are.equal(base .. "/", b:url())
        c:close()
    end)
end)
