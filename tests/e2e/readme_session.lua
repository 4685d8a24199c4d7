-- readme_session.lua: runs README.md's "A first session" against a live
-- server (ctest examples/readme_session, started by run_example.sh), so the
-- first thing a newcomer tries keeps working.
--   lua5.4 readme_session.lua README.md CORDER_BIN PORT
-- Every "$ " line of the session's sh block runs, in one shell (exports
-- carry over), with `build/corder call` pointed at the server; what the
-- README shows after a command must appear in its output, in order, "…"
-- standing for anything.
local readme, bin, port = arg[1], arg[2], arg[3]
local f = assert(io.open(readme))
local text = f:read("a")
f:close()
local block = assert(text:match("## A first session.-```sh\n(.-)```"), "no session block")

local steps = {} -- {cmd, expected lines}
for line in block:gmatch("([^\n]*)\n") do
    if line:sub(1, 2) == "$ " then
        steps[#steps + 1] = {cmd = line:sub(3), want = {}}
    elseif #steps > 0 then
        table.insert(steps[#steps].want, line)
    end
end
assert(#steps >= 3, "too few commands in the session")

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local script = {"set -u"}
for i, st in ipairs(steps) do
    local cmd = st.cmd:gsub("build/corder call", function()
        return q(bin) .. " call --connect 127.0.0.1:" .. port
    end)
    script[#script + 1] = "echo '@@@ " .. i .. "'"
    script[#script + 1] = cmd .. " 2>&1"
end
local tmp = os.tmpname()
f = assert(io.open(tmp, "w"))
f:write(table.concat(script, "\n"), "\n")
f:close()
local p = io.popen("sh " .. tmp)
local out = p:read("a")
p:close()
os.remove(tmp)

local got = {}
local cur
for line in out:gmatch("([^\n]*)\n") do
    local n = line:match("^@@@ (%d+)$")
    if n then
        cur = {}
        got[tonumber(n)] = cur
    elseif cur then
        cur[#cur + 1] = line
    end
end

local function pattern(want)
    local parts = {}
    for piece in (want .. "…"):gmatch("(.-)…") do
        parts[#parts + 1] = piece:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
    end
    return "^" .. table.concat(parts, ".-") .. "$"
end

local failed = false
for i, st in ipairs(steps) do
    local lines, k = got[i] or {}, 1
    for _, want in ipairs(st.want) do
        if want ~= "…" and want:match("%S") then
            local pat = pattern(want:gsub("^%s*…%s*$", "…"))
            while k <= #lines and not lines[k]:match(pat) do k = k + 1 end
            if k > #lines then
                io.stderr:write(("README step %d (%s): expected %q in:\n%s\n"):format(i, st.cmd, want,
                    table.concat(lines, "\n")))
                failed = true
                break
            end
            k = k + 1
        end
    end
end
if failed then os.exit(1) end
print(("README session: %d commands ran as shown"):format(#steps))
