-- tls_spec.lua: SPEC C3, the store↔HQ link over TLS. The spec makes its
-- own CA and certificates with the openssl command: HQ's certificate names
-- localhost and 127.0.0.1; a second CA that signed nothing of HQ's; a
-- certificate of the right CA for another host name. A store with the
-- right CA uploads; with the wrong CA, or to a host its certificate does
-- not name, it refuses to upload and sync.status says why; an HQ serving
-- TLS closes a plain connection without answering it. (TLS is the
-- transport, the same whatever HQ stores in: this spec runs on HQ's
-- default backend only.) Keys are EC P-256: quick to make.
local e2e = require "e2e"

local function openssl(dir, args)
    local code = e2e.sh("cd " .. e2e.q(dir) .. " && env -u LD_PRELOAD openssl " .. args .. " >/dev/null 2>&1")
    assert(code == 0, "openssl " .. args)
end

-- A CA (name.crt/.key) and, signed by it, a leaf for the given SANs.
local function make_ca(dir, name)
    openssl(dir, "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=" .. name
        .. " -keyout " .. name .. ".key -out " .. name .. ".crt")
end

local function make_leaf(dir, ca, name, san)
    openssl(dir, "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" .. name .. " -keyout " .. name
        .. ".key -out " .. name .. ".csr")
    e2e.write_file(dir .. "/" .. name .. ".ext", "subjectAltName=" .. san .. "\n")
    openssl(dir, "x509 -req -in " .. name .. ".csr -CA " .. ca .. ".crt -CAkey " .. ca
        .. ".key -CAcreateserial -days 2 -extfile " .. name .. ".ext -out " .. name .. ".crt")
end

describe("C3: TLS between store and HQ", function()
    local dir, hq, other
    setup(function()
        dir = e2e.tmpdir()
        make_ca(dir, "ca")
        make_ca(dir, "wrongca")
        make_leaf(dir, "ca", "hq", "DNS:localhost,IP:127.0.0.1")
        make_leaf(dir, "ca", "elsewhere", "DNS:elsewhere.example")
        hq = e2e.hq({args = "--tls-cert " .. dir .. "/hq.crt --tls-key " .. dir .. "/hq.key"})
        other = e2e.hq({args = "--tls-cert " .. dir .. "/elsewhere.crt --tls-key " .. dir .. "/elsewhere.key"})
    end)
    teardown(function()
        hq:cleanup()
        other:cleanup()
        e2e.sh("rm -rf " .. e2e.q(dir))
    end)

    local function store_with(port, ca, host, store)
        local st = e2e.store(port, {host = host, args = "--hq-ca " .. e2e.q(dir .. "/" .. ca .. ".crt")})
        local c = st:connect()
        c:login(store or "S001", "1001", "1234")
        local number = c:ok("order.create", e2e.carryout_order()).number
        c:call("sync.run")
        return st, c, number
    end

    it("C3: a store with HQ's CA uploads over TLS, by address and by name", function()
        -- (two stores: each store database numbers its events from 1)
        for host, store in pairs({["127.0.0.1"] = "S001", localhost = "S002"}) do
            local st, c, number = store_with(hq.port, "ca", host, store)
            e2e.wait_for(function() return c:ok("sync.status").uploaded >= 1 end, 10, "the upload")
            assert.is_nil(c:ok("sync.status").last_error)
            c:close()
            st:cleanup()
            assert.are.equal("1", (hq:hq_sql("SELECT count(*) FROM hq_orders WHERE number = '" .. number
                .. "' AND store = '" .. store .. "'"):gsub("%s", "")))
        end
    end)

    it("C3: an HQ serving TLS answers no plain connection", function()
        local c = assert(e2e.connect(hq.port))
        c:send_raw('{"id":1,"op":"ping"}\n')
        c:settimeout(5)
        local line = c.sock:receive("*l")
        assert.is_nil(line)
        assert.is_true(c:closed(5))
    end)

    it("C3: a store refuses an HQ whose certificate its CA did not sign, and says why", function()
        local st, c = store_with(hq.port, "wrongca")
        local s = e2e.wait_for(function()
            local s = c:ok("sync.status")
            return s.last_error and s
        end, 10, "the uploader's error")
        assert.matches("certificate", s.last_error)
        assert.matches("TLS", s.last_error)
        assert.are.equal(0, s.uploaded)
        c:close()
        st:cleanup()
    end)

    it("C3: a store refuses an HQ whose certificate names another host", function()
        local st, c = store_with(other.port, "ca")
        local s = e2e.wait_for(function()
            local s = c:ok("sync.status")
            return s.last_error and s
        end, 10, "the uploader's error")
        assert.matches("TLS", s.last_error)
        assert.matches("mismatch", s.last_error)
        assert.are.equal(0, s.uploaded)
        assert.are.equal("0", (other:hq_sql("SELECT count(*) FROM hq_events"):gsub("%s", "")))
        c:close()
        st:cleanup()
    end)
end)
