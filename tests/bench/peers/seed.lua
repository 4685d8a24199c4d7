-- seed.lua: the peers' reference data, read from the same seed file corder's
-- bench store is made from (tests/bench/seed.json), so that all three take
-- their stores, customers, addresses and prices from one place.
--   lua5.4 seed.lua redis SEED.json   -> commands for redis-cli (one a line)
--   lua5.4 seed.lua sql SEED.json     -> SQL for psql (after pg_orders.sql)
local cjson = require "cjson"

local mode, path = arg[1], arg[2]
if (mode ~= "redis" and mode ~= "sql") or not path then
    io.stderr:write("usage: lua5.4 seed.lua redis|sql SEED.json\n")
    os.exit(2)
end
local f = assert(io.open(path, "rb"))
local seed = cjson.decode(f:read("a"))
f:close()

-- lua-cjson may decode 49900 as the float 49900.0: whole numbers are
-- written as integers.
local function text(v)
    if type(v) == "number" and v == math.floor(v) then return string.format("%d", v) end
    return tostring(v)
end

-- redis-cli splits a line into words; a word in double quotes may hold
-- anything, with \ and " escaped.
local function word(v)
    return '"' .. text(v):gsub('[\\"]', "\\%0"):gsub("\n", "\\n") .. '"'
end
local function cmd(...)
    local t = {}
    for i, v in ipairs({...}) do t[i] = word(v) end
    print(table.concat(t, " "))
end

local function lit(v)
    if v == nil or v == cjson.null then return "NULL" end
    if type(v) == "number" then return text(v) end
    return "'" .. tostring(v):gsub("'", "''") .. "'"
end
local function sql(fmt, ...)
    local t = {}
    for i, v in ipairs({...}) do t[i] = lit(v) end
    print(string.format(fmt, table.unpack(t)) .. ";")
end

if mode == "redis" then
    for _, s in ipairs(seed.stores) do cmd("HSET", "store:" .. s.id, "name", s.name) end
    for _, c in ipairs(seed.customers) do
        cmd("HSET", "customer:" .. c.account, "name", c.name, "email", c.email or "",
            "phone", c.phone or "")
        for _, a in ipairs(c.addresses or {}) do
            cmd("HSET", "customer:" .. c.account .. ":address", a.id, a.street .. ", " .. a.city)
        end
    end
    for _, p in ipairs(seed.products) do
        cmd("HSET", "product:" .. p.item, "name", p.name, "price", p.price)
    end
else
    print("BEGIN;")
    for _, s in ipairs(seed.stores) do sql("SELECT peer.add_store(%s, %s)", s.id, s.name) end
    for _, c in ipairs(seed.customers) do
        sql("INSERT INTO peer.customers VALUES (%s, %s, %s, %s)", c.account, c.name, c.email,
            c.phone)
        for _, a in ipairs(c.addresses or {}) do
            sql("INSERT INTO peer.addresses VALUES (%s, %s, %s, %s)", c.account, a.id, a.street,
                a.city)
        end
    end
    for _, p in ipairs(seed.products) do
        sql("INSERT INTO peer.products VALUES (%s, %s, %s)", p.item, p.name, p.price)
    end
    print("COMMIT;")
end
