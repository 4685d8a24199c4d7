-- slow_hq.lua: a stand-in HQ for tests that need HQ to take its time.
--   lua5.4 slow_hq.lua PORT DELAY_SECONDS DOCFILE
-- Speaks just enough of the protocol: session.login_store is ok,
-- hq.create_order is answered {hq_order} after DELAY seconds and the order
-- document it was sent is written to DOCFILE; anything else (the
-- uploader's hq.upload) is refused, so nothing else reaches "HQ".
package.path = arg[0]:gsub("[^/]*$", "") .. "?.lua;" .. package.path
local socket = require "socket"
local cjson = require "cjson"

local port, delay, docfile = tonumber(arg[1]), tonumber(arg[2]), arg[3]
local server = assert(socket.bind("127.0.0.1", port))
server:settimeout(0)
local clients, due, n = {}, {}, 0

local function answer(c, id, ok, body)
    local msg = ok and {id = id, ok = true, result = body}
        or {id = id, ok = false, error = {code = "hq_unavailable", message = body}}
    c:send(cjson.encode(msg) .. "\n")
end

while true do
    local c = server:accept()
    if c then c:settimeout(0); clients[#clients + 1] = c end
    local readable = socket.select(clients, nil, 0.02)
    for _, cl in ipairs(readable or {}) do
        local line, err = cl:receive("*l")
        if line then
            local req = cjson.decode(line)
            if req.op == "session.login_store" then
                answer(cl, req.id, true, {store = req.args.store, role = "hq"})
            elseif req.op == "hq.create_order" then
                local f = assert(io.open(docfile, "w"))
                f:write(cjson.encode(req.args.order))
                f:close()
                n = n + 1
                due[#due + 1] = {at = socket.gettime() + delay, c = cl, id = req.id,
                                 hq = "HQ-SLOW-" .. n}
            else
                answer(cl, req.id, false, "this HQ only makes orders")
            end
        elseif err == "closed" then
            for i, x in ipairs(clients) do if x == cl then table.remove(clients, i) end end
        end
    end
    for i = #due, 1, -1 do
        if socket.gettime() >= due[i].at then
            answer(due[i].c, due[i].id, true, {hq_order = due[i].hq})
            table.remove(due, i)
        end
    end
end
