-- fake_master_hq.lua: a stand-in HQ that hands out whatever master-data
-- page a test wants, hostile ones included (SPEC C4's attack specs).
--   lua5.4 fake_master_hq.lua PORT PAGEFILE
-- session.login_store is ok; hq.master.since is answered with the text of
-- PAGEFILE as its result, read at each call (so a test changes the page
-- between polls), sent as it is, so a page need not even be valid; every
-- call is counted in PAGEFILE.calls; anything else is refused.
local socket = require "socket"
local cjson = require "cjson"

local port, pagefile = tonumber(arg[1]), arg[2]
local server = assert(socket.bind("127.0.0.1", port))
server:settimeout(0)
local clients, calls = {}, 0

local function read(path)
    local f = io.open(path)
    if not f then return nil end
    local t = f:read("a")
    f:close()
    return t
end

while true do
    local c = server:accept()
    if c then c:settimeout(0); clients[#clients + 1] = c end
    local readable = socket.select(clients, nil, 0.02)
    for _, cl in ipairs(readable or {}) do
        local line, err = cl:receive("*l")
        if line then
            local req = cjson.decode(line)
            local id = cjson.encode(req.id)
            if req.op == "session.login_store" then
                cl:send('{"id":' .. id .. ',"ok":true,"result":{"store":"' .. req.args.store .. '","role":"hq"}}\n')
            elseif req.op == "hq.master.since" then
                calls = calls + 1
                local f = io.open(pagefile .. ".calls", "w")
                f:write(tostring(calls), " ", tostring(req.args.version), "\n")
                f:close()
                local page = (read(pagefile) or "null"):gsub("\n", " ")
                cl:send('{"id":' .. id .. ',"ok":true,"result":' .. page .. '}\n')
            else
                cl:send('{"id":' .. id .. ',"ok":false,"error":{"code":"hq_unavailable","message":"a fake HQ"}}\n')
            end
        elseif err == "closed" then
            for i, x in ipairs(clients) do if x == cl then table.remove(clients, i) end end
        end
    end
end
