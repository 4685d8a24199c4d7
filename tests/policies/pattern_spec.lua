-- pattern_spec.lua: the sandbox's own string patterns (policy_match.c)
-- answer as stock Lua 5.4 does. They replace Lua's so that the hook call's
-- budget can stop them (SPEC L2); a policy must not otherwise see the
-- difference.
--
-- Each case is a chunk of Lua text; fixtures/conformance.lua runs the list
-- once here, with stock Lua's string/table/utf8, and once as a policy
-- hook, in the sandbox, and compares the results (values, types and error
-- messages) case by case.
local corder = require "corder"

local DIR = "tests/policies/fixtures/"
local C = dofile(DIR .. "conformance.lua")

-- A Lua literal for s in ASCII (the cases travel as JSON).
local function lit(s)
  return (("%q"):format(s):gsub("[\128-\255]", function(c) return ("\\%03d"):format(c:byte()) end))
end

local function compare(cases)
  local want = C.run(cases)
  local p = corder.load_policy(DIR .. "conformance.lua", { budget_ms = 20000, memory = 256 * 2 ^ 20 // 1 })
  assert.equal(#cases, p:deposit({ cases = cases, want = want }))
end

-- Every way to call the pattern functions with subject s and pattern p.
local function pattern_cases(out, s, p)
  local S, P = lit(s), lit(p)
  out[#out + 1] = ("return string.find(%s, %s)"):format(S, P)
  out[#out + 1] = ("return string.match(%s, %s)"):format(S, P)
  out[#out + 1] = ("return string.gsub(%s, %s, '<%%0>')"):format(S, P)
  out[#out + 1] = ("local r = {} for a, b, c in string.gmatch(%s, %s) do r[#r + 1] = {a, b, c} end return r")
    :format(S, P)
end

local subjects = {
  "", "a", "aaa", "hello world", "  padded  ", "THE (quick) fox", "a,b,,c", "x=1, y=22, z=333",
  "f(a(b)c)d", "[[nested]]", "100%", "tab\tand\nnewline", "S001-000042", "caf\195\169 cr\195\168me",
  "\0zero\0bytes\0", "\200\201\255 high", "a.b.c", "--[[x]]--", "key = value ; other=thing",
  "2024-05-01T10:00:00Z", "aXbXc", "()", "$1.50", "^start", "end$",
}

local patterns = {
  -- single characters and classes
  "a", ".", "%a", "%A", "%c", "%C", "%d", "%D", "%g", "%G", "%l", "%L", "%p", "%P", "%s", "%S",
  "%u", "%U", "%w", "%W", "%x", "%X", "%.", "%%", "%-", "%z", "%Q", "%]",
  -- sets
  "[abc]", "[^abc]", "[a-z]", "[^a-z]", "[%a_]", "[%d%.]", "[]]", "[^]]", "[a-]", "[-a]", "[%a-z]",
  "[a-%]]", "[%]]", "[%%]", "[\200-\255]", "[^%s]+", "[%w%p]+", "[a-c-e]",
  -- quantifiers
  "a*", "a+", "a-", "a?", ".*", ".+", ".-", ".?", "%a+", "%d+", "%s*", "[^,]*", "x*y", "a-b",
  "%a*%d", "(%a+)", "(%d+)(%a*)", "%w+%s*=%s*%w+", "^%s*(.-)%s*$", "(%w+)=(%w+)",
  -- anchors
  "^a", "^h", "d$", "^$", "$", "^", "^.-$", "a$b", "^^", "%$",
  -- captures
  "()", "()a()", "(a)(b)?", "((a)(b))", "(h)(e)(l)(l)(o)", "(.)%1", "(a*(.)%w(%s*))",
  "(%a)%1", "()(%a+)()", "(o)(.-)%1",
  -- %b and %f
  "%b()", "%b[]", "%bab", "%b\"\"", "%f[%a]%a+", "%f[%w]", "%f[%W]", "%f[%z]", "%f[^%z]",
  "%f[%S]%S+%f[%s]", "%f[a]",
  -- errors
  "%", "a%", "[a", "[^", "[%", "[a%", "(a", "a)", "%1", "(a%1)", "(a)%2", "%0", "%f", "%fa",
  "%f[a", "%b", "%ba", "((((", "())",
}

describe("the sandbox's string patterns (policy_match.c)", function()
  it("give stock Lua's results for a table of patterns and subjects", function()
    local cases = {}
    for _, p in ipairs(patterns) do
      for _, s in ipairs(subjects) do pattern_cases(cases, s, p) end
    end
    compare(cases)
  end)

  it("give stock Lua's results for random patterns", function()
    local tokens = {
      "a", "b", "x", ".", "%a", "%d", "%s", "%w", "%p", "%x", "%u", "%l", "%c", "%g", "%A", "%S",
      "%%", "%.", "[ab]", "[^ab]", "[a-c]", "[%d_]", "[]]", "[^]]", "[a-]", "[%a-]", "*", "+",
      "-", "?", "(", ")", "()", "%1", "%2", "%b()", "%bab", "%f[%w]", "%f[%s]", "^", "$", "[",
      "%", "]", "\0", "\200",
    }
    local alphabet = { "a", "b", "a", "b", "x", "(", ")", ".", " ", "1", "_", "-", "A", "\0", "\200", "]", "%" }
    local rng = 20240501
    local function rand(n) -- a small LCG, the same on every machine
      rng = (rng * 1103515245 + 12345) % 2147483648
      return rng % n + 1
    end
    local cases = {}
    for _ = 1, 1500 do
      local p, s = {}, {}
      for _ = 1, rand(6) do p[#p + 1] = tokens[rand(#tokens)] end
      for _ = 1, rand(13) - 1 do s[#s + 1] = alphabet[rand(#alphabet)] end
      pattern_cases(cases, table.concat(s), table.concat(p))
    end
    compare(cases)
  end)

  it("take init, plain, replacement tables, functions and counts as Lua does", function()
    compare {
      "return string.find('abcabc', 'b', 3)", "return string.find('abcabc', 'b', -2)",
      "return string.find('abcabc', 'b', -100)", "return string.find('abc', '', 4)",
      "return string.find('abc', '', 5)", "return string.find('abc', '', 10)",
      "return string.find('abc', 'c', 0)", "return string.find('a.b', '.', 1, true)",
      "return string.find('a.b', '.', 2, false)", "return string.find('a+b', '+', 1, 1)",
      "return string.find('abc', '', 1, true)", "return string.find('abc', 'bc', 5, true)",
      "return string.find('abc', 'a)')", "return string.find('abcabc', '^a', 4)",
      "return string.match('abc', '.', -1)", "return string.match('  x  ', '^%s*(.-)%s*$')",
      "return string.match('hello', '()ll()')", "return string.match('key=val', '(%w+)=(%w+)', 2)",
      "return string.match(12345, 3)", "return string.find(12.5, '.', 1, true)",
      "return string.gsub('abc', '%w', '%1-%0')", "return string.gsub('abc', '(%w)', '%1%1')",
      "return string.gsub('abc', '%w', '%2')", "return string.gsub('abc', '%w', '%x')",
      "return string.gsub('abc', '%w', '%')", "return string.gsub('abc', '%w', '%%')",
      "return string.gsub('hello world', 'o', 'O', 1)", "return string.gsub('aaaa', 'a', 'b', 0)",
      "return string.gsub('aaaa', 'a', 'b', -1)", "return string.gsub('aaaa', 'a', 'b', 2.0)",
      "return string.gsub('aaaa', 'a', 'b', 2.5)", "return string.gsub('abc', '', '-')",
      "return string.gsub('abc', '%w*', 'x')", "return string.gsub('hello world', 'o*', 'X')",
      "return string.gsub('aaa', '^a', 'b')", "return string.gsub('aaa', '^', 'b')",
      "return string.gsub('abc', '%w', {a = 1, b = true})", "return string.gsub('abc', '%w', {a = 'A', c = false})",
      "return string.gsub('abc', '%w', {a = {}})", "return string.gsub('abc', '()', {[1] = 'X', [2] = 'Y'})",
      "return string.gsub('abc', '%w', function(c) if c == 'b' then return nil end return c:upper() end)",
      "return string.gsub('abc', '%w', function(c) return {} end)",
      "return string.gsub('k=v, a=b', '(%w+)=(%w+)', function(k, v) return v .. '=' .. k end)",
      "return string.gsub('abc', '(a)(b)(c)', function(...) return select('#', ...) end)",
      "return string.gsub('abc', '()b()', function(a, b) return a * 10 + b end)",
      "return string.gsub('abc', 'b', 1.5)", "return string.gsub('abc', 'b', true)",
      "return string.gsub('abc', 'b')", "return string.gsub(123, '2', 'x')",
      "return string.gsub('abc', '(', 'x')", "return string.gsub('abc', '(', function(x) return x end)",
      "return string.gsub('a b', '%s', '%%s')", "return ('x'):rep(3):gsub('x', '%0%0')",
      "return string.gsub('abc', '.', {}, 2)", "return string.gsub('', '', 'e')",
      "local r = {} for k, v in string.gmatch('a=1, b=2', '(%w+)=(%w+)') do r[#r + 1] = k .. v end return table.concat(r, ';')",
      "local r = {} for w in string.gmatch('one two  three', '%a+') do r[#r + 1] = w end return r",
      "local r = {} for w in string.gmatch('abcabc', 'a', 3) do r[#r + 1] = w end return r",
      "local r = {} for w in string.gmatch('abcabc', 'a', -3) do r[#r + 1] = w end return r",
      "local r = {} for w in string.gmatch('abc', '', 10) do r[#r + 1] = w end return r",
      "local r = {} for w in string.gmatch('abc', '') do r[#r + 1] = w end return r",
      "local r = {} for a, b in string.gmatch('abc', '()(.)') do r[#r + 1] = a .. b end return r",
      "local r = {} for w in string.gmatch('^a^a', '^a') do r[#r + 1] = w end return r",
      "local f = string.gmatch('ab', '.') return f(), f(), f(), f()",
      "return string.gmatch('ab')", "return string.find()", "return string.find('a')",
      "return string.find('a', {})", "return string.find('a', 'a', 'x')", "return string.match(nil, 'a')",
      "return ('abc'):find('b')", "return ('abc'):match('(b)(c)')", "return ('x y'):gsub('%s', '_')",
      ("return string.find(%s, %s)"):format(lit(("a"):rep(40)), lit(("(a)"):rep(32))),
      ("return string.find(%s, %s)"):format(lit(("a"):rep(40)), lit(("(a)"):rep(33))),
      ("return string.find(%s, %s)"):format(lit(("a"):rep(40)), lit(("()"):rep(33))),
      ("return string.find(%s, %s)"):format(lit(("a"):rep(300)), lit(("a?"):rep(150))),
      ("return string.find(%s, %s)"):format(lit(("a"):rep(300)), lit(("a?"):rep(250))),
      ("return string.match(%s, %s)"):format(lit(("a"):rep(20)), lit(("(a)"):rep(20))),
      ("return string.gsub(%s, '(a)(a)(a)(a)(a)(a)(a)(a)(a)(a)', '%%9%%8%%1')"):format(lit(("a"):rep(25))),
      ("return string.find(%s, '%%b()')"):format(lit(("("):rep(50) .. (")"):rep(49))),
      ("return string.find(%s, '.-b')"):format(lit(("a"):rep(200) .. "b")),
    }
  end)
end)
