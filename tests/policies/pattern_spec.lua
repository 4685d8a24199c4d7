-- pattern_spec.lua: the sandbox's own string patterns (policy_match.c) and
-- its rewritten library functions (policy_bounded.c) answer as stock Lua
-- 5.4 does. They replace Lua's so that the hook call's budget can stop
-- them (SPEC L2); a policy must not otherwise see the difference.
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

describe("the sandbox's bounded library functions (policy_bounded.c)", function()
  it("format as string.format does", function()
    local cases = {}
    local specs = {
      "%d", "%5d", "%-5d", "%+d", "% d", "%05d", "%#d", "%.3d", "%5.3d", "%100d", "%99d", "%.99d",
      "%.100d", "%-+ #05d", "%++d", "%--5d", "%0-5d", "%5c", "%-5c", "%05c", "%.2c", "%5x", "%#x",
      "%+x", "%#o", "%X", "%5u", "%-u", "%+u", "%#u", "%.3u", "%i", "% 05i", "%5.2f", "%#.0f", "%+e",
      "%-G", "%#a", "%.3a", "%A", "% g", "%.14g", "%e", "%E", "%g", "%G", "%f", "%.0e", "%99.99f",
      "%5s", "%-5s", "%.3s", "%05s", "%#s", "%+s", "%5.2s", "%s", "%.0s", "%5p", "%.3p", "%0p", "%q",
      "%5q", "%-q", "%", "%z", "%5", "%.", "%5.", "%.5", "%1$d", "%ld", "%hd", "%n", "%*d", "%..3d",
      "%5.3.2d", "%F", "%--------------------d", "%---------------------d", "%%", "%5%", "a%%b%d",
      "%5\0d",
    }
    local values = { "42", "-7", "3.0", "3.5", "1e100", "1/0", "-1/0", "0/0", "-0.0", "0.1",
      "math.mininteger", "math.maxinteger", "2^53", "2^63", "'10'", "'0x10'", "'x'", "'a\\0b'",
      "('x'):rep(120)", "('x'):rep(120) .. '\\0'", "nil", "true", "{}", "65", "256 + 65", "-1",
      "setmetatable({}, {__tostring = function() return 'T' end})", "'\"\\\\\\n\\r\\t\\0\\0019\\127\\200z'" }
    for _, f in ipairs(specs) do
      for _, v in ipairs(values) do
        cases[#cases + 1] = ("return string.format(%s, %s)"):format(lit(f), v)
      end
    end
    for _, more in ipairs {
      "return string.format('%d %d', 1)", "return string.format('abc%')", "return string.format('')",
      "return string.format(12)", "return string.format('%s|%s', 10, 1.5)", "return string.format('%s')",
      "return string.format('%5.1f|%-3d|%s|%q', 3.14159, 7, 'x', 'y')", "return string.format('%c%c%c', 76, 117, 97)",
      "return string.format('%q', 1e308)", "return string.format('%q', 2^63)", "return string.format('%q', ('\\1'):rep(3) .. '1')",
      "return string.format('%s %s', 1, 2, 3)", "return ('%d items'):format(3)", "return string.format()",
      "return string.format({})", "return string.format('%d', {})", "return string.format('%10.4s|', 'abcdefg')",
    } do cases[#cases + 1] = more end
    compare(cases)
  end)

  it("build strings as string.rep, upper, lower, reverse, byte and char do", function()
    compare {
      "return string.rep('ab', 3)", "return string.rep('ab', 3, ',')", "return string.rep('ab', 1, ',')",
      "return string.rep('ab', 0)", "return string.rep('ab', -1)", "return string.rep('', 5)",
      "return string.rep('', 5, ',')", "return string.rep('x', 2.0)", "return string.rep('x', 2.5)",
      "return string.rep('ab', 5, '')", "return string.rep('a\\0b', 3, '\\0')", "return #string.rep('abc', 1000, 'de')",
      "return string.rep()", "return string.rep('x')", "return string.rep('x', 'y')", "return ('x'):rep(3)",
      "return string.rep(12, 2)", "return string.rep('x', 2, 3)",
      "return string.upper('aBc\\0\\233xyz')", "return string.lower('AbC\\0\\201XYZ')", "return string.reverse('abc\\0d')",
      "return string.upper('')", "return string.reverse('')", "return string.upper(12)", "return string.upper()",
      "return string.byte('abc')", "return string.byte('abc', 2)", "return string.byte('abc', -2, 10)",
      "return string.byte('abc', 0)", "return string.byte('abc', 3, 1)", "return string.byte('')",
      "return string.char(72, 105)", "return string.char()", "return string.char(256)", "return string.char(-1)",
      "return string.char('65')", "return string.pack('i4', 7):byte(1, -1)", "return string.unpack('<i2', '\\1\\2')",
      "return string.packsize('i4i8')", "return string.pack('z', 'ab')", "return string.pack('s1', 'ab')",
      "return string.unpack('c3', 'abcdef')", "return string.pack('c5', 'ab')", "return string.pack('q')",
      "return string.unpack('i4', 'ab')", "return string.packsize('s')", "return ('10' + 1), ('3' * '4'), -'2', '7' // 2",
      "return ('10' + {})", "return ('0x10' + 0), ('1e2' + 0)", "return ('abc' + 1)",
    }
  end)

  it("work tables as table.concat, insert, remove, move, unpack, sort and pack do", function()
    compare {
      "return table.concat({1, 2, 3})", "return table.concat({1, 2, 3}, ', ')", "return table.concat({1, 2.5, 'x'}, 0)",
      "return table.concat({1, 2, 3}, '-', 2, 3)", "return table.concat({1, 2, 3}, '-', 3, 2)",
      "return table.concat({[-1] = 'a', [0] = 'b'}, '-', -1, 0)", "return table.concat({1, {}, 3})",
      "return table.concat({1, 2}, ',', 1, 3)", "return table.concat('abc')", "return table.concat({})",
      "return table.concat({}, 'x', 1, 0)", "return table.concat({'a'}, nil)", "return table.concat({'a', 'b'}, {})",
      "return table.concat(setmetatable({}, {__index = function(_, i) return 'v' .. i end, __len = function() return 3 end}), ',')",
      "local t = {1, 2} table.insert(t, 3) return t", "local t = {1, 2} table.insert(t, 1, 0) return t",
      "local t = {1, 2} table.insert(t, 3, 9) return t", "return table.insert({1, 2}, 5, 1)",
      "return table.insert({1, 2}, 0, 1)", "return table.insert({}, 1, 2, 3)", "return table.insert({})",
      "return table.insert({1, 2}, 1.5, 1)", "return table.insert('abc', 1)", "return table.insert(nil, 1)",
      "local t = {1, 2, 3} return table.remove(t), table.remove(t, 1), #t, t[1]",
      "local t = {} return table.remove(t), table.remove(t, 0), table.remove(t, #t)",
      "return table.remove({1, 2, 3}, 7)", "return table.remove({1, 2, 3}, 4)", "return table.remove({1, 2, 3}, -1)",
      "local t = {[0] = 'z'} return table.remove(t, 0), t[0]", "local t = {1, 2, 3} return table.remove(t, 2), t",
      "return table.move({1, 2, 3}, 1, 3, 2)", "return table.move({1, 2, 3}, 2, 3, 1)",
      "local a = {} return table.move({1, 2, 3}, 1, 3, 1, a) == a, a", "return table.move({1, 2, 3}, 3, 1, 1)",
      "return table.move({}, 1, math.maxinteger, 2)", "return table.move({}, -1, math.maxinteger, 2)",
      "return table.move({}, 1, 10, math.maxinteger)", "return table.move('abc', 1, 2, 1)",
      "return table.move({}, 1.5, 2, 1)", "return table.move({1, 2}, 1, 2, 1, 'x')",
      "return table.move({1, 2, 3}, 1, 3, 3, {})",
      "return table.unpack({1, 2, 3})", "return table.unpack({1, 2, 3}, 2)", "return table.unpack({1, 2, 3}, 2, 5)",
      "return table.unpack({}, 1, 1e7)", "return table.unpack({}, 1, 2^40)", "return table.unpack({[-1] = 1, [0] = 2}, -1, 0)",
      "return table.unpack('abc')", "return table.unpack(5)", "return table.unpack({1, 2}, 3, 2)",
      "local t = {5, 2, 8, 1} table.sort(t) return t", "local t = {5, 2, 8, 1} table.sort(t, function(a, b) return a > b end) return t",
      "local t = {'b', 'a', 'c'} table.sort(t) return t", "return table.sort({1, 2}, 5)", "return table.sort({1}, 5)",
      "return table.sort({1, 'a'})", "return table.sort('abc')", "local t = {} table.sort(t) return t",
      "return table.sort({5, 4, 3, 2, 1, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, function(a, b) return true end)",
      "local t = {3, 1, 2} table.sort(t, nil) return t",
      "local t = {} for i = 1, 200 do t[i] = (i * 7919) % 211 end table.sort(t) return t",
      "local t = table.pack(1, nil, 3) return t.n, t[3]", "return table.pack()",
    }
  end)

  it("read UTF-8 as the utf8 library does", function()
    compare {
      "return utf8.len('h\\u{e9}llo')", "return utf8.len('h\\xe9llo')", "return utf8.len('hello', 0)",
      "return utf8.len('hello', 7)", "return utf8.len('hello', 1, 7)", "return utf8.len('hello', -2)",
      "return utf8.len('hello', 6)", "return utf8.len('', 1)", "return utf8.len('abc', 3, 2)",
      "return utf8.len('\\u{7FFFFFFF}\\xed\\xa0\\x80', 1, -1, true)", "return utf8.len('\\xed\\xa0\\x80')",
      "return utf8.len('\\u{10FFFF}\\u{110000}')", "return utf8.len('a\\u{e9}', 3)", "return utf8.len('\\xc0\\x80')",
      "return utf8.len('\\xf8\\x88\\x80\\x80\\x80', 1, -1, true)", "return utf8.len('\\xfe\\x80')", "return utf8.len('\\xff')",
      "return utf8.len('\\xe0\\x80\\x80')", "return utf8.len('\\xf0\\x90\\x80')", "return utf8.len('a\\0b')",
      "return utf8.codepoint('h\\u{e9}llo', 1, -1)", "return utf8.codepoint('abc', 0)", "return utf8.codepoint('abc', 1, 4)",
      "return utf8.codepoint('\\xff')", "return utf8.codepoint('\\u{e9}', 2)", "return utf8.codepoint('abc', 3, 2)",
      "return utf8.offset('a\\u{e9}b', 3)", "return utf8.offset('a\\u{e9}b', -1)", "return utf8.offset('a\\u{e9}b', 0, 3)",
      "return utf8.offset('a\\u{e9}b', 1, 3)", "return utf8.offset('abc', 1, 5)", "return utf8.offset('abc', 5)",
      "return utf8.offset('abc', 4)", "return utf8.offset('abc', -3)", "return utf8.offset('abc', -4)",
      "return utf8.offset('a\\u{e9}b', -2, 4)", "return utf8.offset('', 1)", "return utf8.offset('', -1)",
      "return utf8.offset('a\\u{10000}b', 2, 1)", "return utf8.offset('\\u{e9}\\u{e9}', 0, 4)",
      "return utf8.char(72, 0x7FFFFFFF, 0xe9)", "return utf8.char(0x80000000)", "return utf8.char(-1)", "return utf8.char()",
      "local r = {} for p, c in utf8.codes('a\\u{e9}\\u{10000}') do r[#r + 1] = p .. ':' .. c end return r",
      "local r = {} for p, c in utf8.codes('a\\x80') do r[#r + 1] = p .. ':' .. c end return r",
      "local r = {} for p, c in utf8.codes('a\\xe9b') do r[#r + 1] = p .. ':' .. c end return r",
      "local r = {} for p, c in utf8.codes('\\x80a') do r[#r + 1] = p .. ':' .. c end return r",
      "local r = {} for p, c in utf8.codes('\\u{7FFFFFFF}', true) do r[#r + 1] = p .. ':' .. c end return r",
      "local r = {} for p, c in utf8.codes('\\u{7FFFFFFF}') do r[#r + 1] = p .. ':' .. c end return r",
      "local f, s = utf8.codes('abc') return f(s, 2), f(s, -1), f(s, 10)",
      "local f, s = utf8.codes('a\\u{e9}\\u{e9}') return f(s, 3)", "local f, s = utf8.codes('\\u{e9}\\x80') return f(s, 0)",
      "return utf8.codes(12)", "return utf8.codes()", "return utf8.charpattern",
    }
  end)

  it("answer select, tonumber, math.max/min, assert, os.date and load as Lua does", function()
    compare {
      "return select('#', 1, nil, 3)", "return select(2, 'a', 'b', 'c')", "return select(-1, 1, 2, 3)",
      "return select(0, 1)", "return select(-5, 1)", "return tonumber('  ff  ', 16)", "return tonumber('fg', 16)",
      "return tonumber('-ff', 16)", "return tonumber('1', 37)", "return tonumber(10, 16)", "return tonumber('0x1p4')",
      "return tonumber(' 12 ')", "return tonumber('1e')", "return tonumber()", "return math.max(3, 9, 2)",
      "return math.min(3.5, 9, 2)", "return math.max()", "return assert(1, 2, 3)", "return assert(false, 'why')",
      "return assert(nil)", "return os.date('!%Y-%m-%d %H:%M:%S', 86400 * 365)", "return os.date('!%c', 0)",
      "return os.date('%Ez', 0)", "return os.date('!*t', 3600).hour", "return load('return 1 + 1')()",
      "return load('syntax error here', '=x')", "return load('\\27Lua', '=x', 't')", "return load('return ...', 'name')(7)",
      "return load(string.rep('x = 1 ', 10000))", "return select('#', load('return 1', nil, 'b'))",
    }
  end)
end)
