-- Tests of extract_member (json_member.lua). Run from anywhere:
--   luajit gateway/lua/json_member_test.lua      (or lua5.1 gateway/lua/json_member_test.lua)
-- Prints one line per failure and exits 1 if any case fails, 0 otherwise.
local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
dofile(here .. "/json_member.lua")

local cases = {
  -- { description, json_text, name, expected raw value text (nil = absent) }
  { "simple scalar", '{"a":1,"b":2}', "b", "2" },
  { "first member", '{"a":1,"b":2}', "a", "1" },
  { "absent member", '{"a":1,"b":2}', "c", nil },
  { "nested arrays and objects",
    '{"x":{"tasks":[9]},"tasks":[{"id":1,"tags":["a","b"],"m":{"k":[[],[{}]]}},{"id":2}],"n":3}',
    "tasks", '[{"id":1,"tags":["a","b"],"m":{"k":[[],[{}]]}},{"id":2}]' },
  { "same name only nested deeper -> nil", '{"x":{"tasks":[1]},"y":[{"tasks":2}]}', "tasks", nil },
  { "nested same name before the top-level one",
    '{"page":{"tasks":"inner"},"tasks":"outer"}', "tasks", '"outer"' },
  { "strings with \\\" [ ] { } , : inside",
    [=[{"a":"he said \"}],{:\" ok","tasks":["x\"]","[{",":,","}\"{"],"z":0}]=],
    "tasks", [=[["x\"]","[{",":,","}\"{"]]=] },
  { "member text inside a string value is not a member",
    [[{"a":"\"tasks\":[1],","tasks":[2]}]], "tasks", "[2]" },
  { "member text only inside a string -> nil", [[{"a":"{\"tasks\":[1]}"}]], "tasks", nil },
  { "string ending in an escaped backslash", [[{"a":"C:\\","b":["\\",{"c":"\\\""}]}]],
    "b", [==[["\\",{"c":"\\\""}]]==] },
  { "unicode escapes kept as they are in values",
    [[{"a":"\u005d\u007b\u0022","b":"\ud83d\ude00 \u00e9"}]], "b", [["\ud83d\ude00 \u00e9"]] },
  { "unicode-escaped key is decoded", [[{"x":1,"\u0074asks":[1]}]], "tasks", "[1]" },
  { "surrogate pair in key", '{"\\ud83d\\ude00":true}', "\240\159\152\128", "true" },
  { "escaped quote in key", [[{"ta\"sks":1,"tasks":2}]], "tasks", "2" },
  { "escaped key matches its decoded form only", [[{"a\"b":1}]], 'a\\"b', nil },
  { "escaped key matches decoded name", [[{"a\"b":1}]], 'a"b', "1" },
  { "whitespace everywhere",
    ' \n\t{ \r\n "a" : "x" ,\n  "tasks" \t : \n [ 1 , { "a" : [ ] } ] \n , "b" : 2 } \n',
    "tasks", '[ 1 , { "a" : [ ] } ]' },
  { "scalar before closing brace with whitespace", '{ "n" : -1.5e+10 }', "n", "-1.5e+10" },
  { "true", '{"a":true,"b":false}', "a", "true" },
  { "false", '{"a":true,"b":false}', "b", "false" },
  { "null is present, not absent", '{"a":null}', "a", "null" },
  { "empty array and object values", '{"a":[],"b":{}}', "b", "{}" },
  { "value is the last thing before the final brace", '{"a":{"b":{"c":[]}}}', "a", '{"b":{"c":[]}}' },
  { "raw UTF-8 in strings", '{"a":"日本\\"語]","b":"ü"}', "b", '"ü"' },
  { "name with pattern characters", '{"a-b%":1,"a.b":2,"a%.b":3}', "a.b", "2" },
  { "empty name", '{"":[0],"a":1}', "", "[0]" },
  { "duplicate keys: the first wins", '{"a":1,"a":2}', "a", "1" },
  { "empty object", "{}", "a", nil },
  { "empty object with whitespace", " { } ", "a", nil },
  { "top level is an array", '[{"tasks":1}]', "tasks", nil },
  { "top level is a string", '"tasks"', "tasks", nil },
  { "empty text", "", "a", nil },
  { "truncated inside the wanted value", '{"tasks":[1,{"a":2}', "tasks", nil },
  { "truncated inside a string", '{"a":"abc\\"', "a", nil },
  { "missing colon", '{"a" 1}', "a", nil },
}

local failures = 0
local function show(v) return v == nil and "nil" or string.format("%q", v) end
for n, c in ipairs(cases) do
  local ok, got = pcall(extract_member, c[2], c[3])
  if not ok then
    failures = failures + 1
    print(string.format("FAIL %d %s: error %s", n, c[1], tostring(got)))
  elseif got ~= c[4] then
    failures = failures + 1
    print(string.format("FAIL %d %s: got %s, want %s", n, c[1], show(got), show(c[4])))
  end
end

-- Not a string at all.
if extract_member(nil, "a") ~= nil or extract_member(42, "a") ~= nil then
  failures = failures + 1
  print("FAIL non-string input should give nil")
end

-- A big body (like a long shared-with-me list), to catch quadratic scanning.
local parts = {}
for k = 1, 20000 do
  parts[k] = string.format('{"id":%d,"title":"t \\"%d\\" [x]","tags":["a","b"],"done":false}', k, k)
end
local big_array = "[" .. table.concat(parts, ",") .. "]"
local big = '{"tasks":' .. big_array .. ',"next_page_token":"abc"}'
local t0 = os.clock()
if extract_member(big, "tasks") ~= big_array or extract_member(big, "next_page_token") ~= '"abc"' then
  failures = failures + 1
  print("FAIL big body")
end
local elapsed = os.clock() - t0

local total = #cases + 2
if failures > 0 then
  print(string.format("%d of %d checks failed", failures, total))
  os.exit(1)
end
print(string.format("all %d checks passed (%s; %d-byte body in %.3fs)", total,
  jit and jit.version or _VERSION, #big, elapsed))
