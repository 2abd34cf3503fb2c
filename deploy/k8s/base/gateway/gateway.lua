-- extract_member(json_text, name) -> the raw JSON text of the TOP-LEVEL member `name` of the JSON
-- object in json_text (e.g. '[{"id":1}]', '"x"', '12', 'null'), without surrounding whitespace;
-- nil when there is no such member, or when json_text is not a JSON object (or is cut short).
-- Members of nested objects never match. Keys are compared after decoding their escapes
-- ("\u0074asks" is "tasks"); values are returned as they are, escapes included. With duplicate
-- keys the first wins. Plain Lua 5.1 / LuaJIT: no require, no globals besides this function and
-- json_unescape. It scans, it does not validate: for malformed input it returns nil or some
-- substring, never errors.

-- JSON string contents (between the quotes) -> UTF-8 text; nil for a bad escape. A \uD800-\uDBFF
-- followed by \uDC00-\uDFFF is one character; a lone surrogate stays as it is (the services refuse it
-- as text that is not UTF-8). Shared with json_types.lua.
function json_unescape(raw)
  local find, sub = string.find, string.sub
  local out, pos = {}, 1
  local function utf8(cp)
    local f = math.floor
    if cp < 0x80 then return string.char(cp) end
    if cp < 0x800 then return string.char(0xC0 + f(cp / 0x40), 0x80 + cp % 0x40) end
    if cp < 0x10000 then
      return string.char(0xE0 + f(cp / 0x1000), 0x80 + f(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
    end
    return string.char(0xF0 + f(cp / 0x40000), 0x80 + f(cp / 0x1000) % 0x40,
      0x80 + f(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  while true do
    local k = find(raw, "\\", pos, true)
    if not k then out[#out + 1] = sub(raw, pos); return table.concat(out) end
    out[#out + 1] = sub(raw, pos, k - 1)
    local c = sub(raw, k + 1, k + 1)
    if c == "u" then
      local hex = sub(raw, k + 2, k + 5)
      if not find(hex, "^%x%x%x%x$") then return nil end
      local cp = tonumber(hex, 16)
      pos = k + 6
      local lo = find(raw, "^\\u[dD][c-fC-F]%x%x", pos) and tonumber(sub(raw, pos + 2, pos + 5), 16)
      if cp >= 0xD800 and cp < 0xDC00 and lo then
        cp, pos = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00), pos + 6
      end
      out[#out + 1] = utf8(cp)
    else
      local simple = ({ ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
        r = "\r", t = "\t" })[c]
      if not simple then return nil end
      out[#out + 1], pos = simple, k + 2
    end
  end
end

function extract_member(json_text, name)
  if type(json_text) ~= "string" then return nil end
  local s, i, find, sub = json_text, 1, string.find, string.sub
  local function skip_ws() i = find(s, "[^ \t\r\n]", i) or #s + 1 end
  -- i on an opening quote: moves i past the closing quote; returns the raw contents, nil if unterminated.
  local function skip_string()
    local j = i + 1
    while true do
      local k = find(s, '["\\]', j)
      if not k then return nil end
      if sub(s, k, k) == "\\" then j = k + 2 else
        local raw = sub(s, i + 1, k - 1)
        i = k + 1
        return raw
      end
    end
  end
  -- i on the first character of a value: moves i just past it; false if it is malformed.
  local function skip_value()
    local c = sub(s, i, i)
    if c == '"' then return skip_string() ~= nil end
    if c == "{" or c == "[" then
      local depth = 0
      repeat
        i = find(s, '[%[%]{}"]', i)
        if not i then return false end
        c = sub(s, i, i)
        if c == '"' then
          if not skip_string() then return false end
        else
          depth = depth + ((c == "{" or c == "[") and 1 or -1)
          i = i + 1
        end
      until depth == 0
      return true
    end
    local e = find(s, "[,}%]%s]", i) or #s + 1 -- number, true, false, null
    if e == i then return false end
    i = e
    return true
  end
  skip_ws()
  if sub(s, i, i) ~= "{" then return nil end
  i = i + 1
  skip_ws()
  if sub(s, i, i) == "}" then return nil end
  while true do
    if sub(s, i, i) ~= '"' then return nil end
    local key = skip_string()
    if not key then return nil end
    skip_ws()
    if sub(s, i, i) ~= ":" then return nil end
    i = i + 1
    skip_ws()
    local start = i
    if not skip_value() then return nil end
    if find(key, "\\", 1, true) then key = json_unescape(key) end
    if key == name then
      return sub(s, start, i - 1)
    end
    skip_ws()
    local c = sub(s, i, i)
    if c ~= "," then return nil end -- "}" (the end: not found) or malformed
    i = i + 1
    skip_ws()
  end
end

-- Strict JSON types for what the transcoder turns into protobuf (API.md: a wrong JSON type is a
-- 400, never coerced). Envoy's grpc_json_transcoder takes "yes" or "1" for true, a scalar for a
-- list, [["a"]] for ["a"], "5" or 5.0 for 5, drops nulls from lists, reads ?completed=yes as true
-- and /tasks/01 as task 1, and lets a query parameter or a body member set a field the path set
-- (GET /tasks/1?id=2 read task 2); this filter runs before it.
-- refuse_loose_json(request_handle) finds the route as the transcoder's path matcher does, checks
-- its path variables and query parameters, and when the route takes a JSON body, parses it
-- strictly against the route's shape (JSON_SHAPES, generated from the protos into
-- json_shapes.lua). What a body may hold is the proto3 JSON mapping
-- (https://protobuf.dev/programming-guides/json/) made strict, as the original API was: bools
-- only true/false; strings only strings; integers only as integral JSON numbers written without a
-- fraction or exponent, within range (64-bit ones also as decimal strings); floats as numbers,
-- numeric strings, "NaN" or "[-]Infinity"; enums by name or number; lists only arrays, without
-- nulls; messages and maps only objects; null for a field that has presence (optional, a message,
-- a list) is its default, for one that has none ("nn": title, content, username...) a 400; a list
-- body (POST /tasks/{id}/tags) must be a list, not null; google.protobuf.Value anything. A field
-- given twice (also as name and jsonName) is refused, and so is a field the path sets (`pv`);
-- unknown fields are ignored, as the transcoder ignores them (but must be valid JSON), except in
-- bodies marked `closed`. Path variables and query values: integers in canonical decimal (no "+",
-- no leading zero, no spaces), bools only "true"/"false"; a query parameter must be one of the
-- route's (`q`), and only a list may be given more than once. The first mismatch gets a 400 in the
-- google.rpc.Status shape with a google.rpc.BadRequest naming the field ("completed",
-- "updates.completed", "tags[0]", "limit", "id").
-- Native gRPC is neither buffered nor read; routes without a body and raw uploads (HttpBody) have
-- only their path and query checked.
-- Needs json_unescape() from json_member.lua, which the stack puts before this file.
-- Plain Lua 5.1 / LuaJIT, no require.

JSON_MAX_DEPTH = 32 -- nested objects and arrays; protobuf itself stops at 100

do
  local byte, find, sub, gsub, concat = string.byte, string.find, string.sub, string.gsub, table.concat
  local floor, tonumber, type, pcall, error = math.floor, tonumber, type, pcall, error
  -- Largest magnitude of negative and positive values, as digits.
  local LIMITS = {
    int32 = { "2147483648", "2147483647" },
    uint32 = { "0", "4294967295" },
    int64 = { "9223372036854775808", "9223372036854775807" },
    uint64 = { "0", "18446744073709551615" },
  }
  local RANGES = {
    int32 = "an integer from -2147483648 to 2147483647",
    uint32 = "an integer from 0 to 4294967295",
    int64 = "an integer from -9223372036854775808 to 9223372036854775807",
    uint64 = "an integer from 0 to 18446744073709551615",
  }
  local ESCAPES = { [34] = true, [92] = true, [47] = true, [98] = true, [102] = true, [110] = true,
    [114] = true, [116] = true }
  local VALUE_START = { [123] = true, [91] = true, [34] = true, [116] = true, [102] = true, [110] = true,
    [45] = true }
  for digit = 48, 57 do VALUE_START[digit] = true end

  -- The body being checked and where we are: set by json_body_error, which never yields.
  local s, i, depth, top, stack = "", 1, 0, 0, {}

  local function path_text()
    local out = {}
    for n = 1, top do
      local segment = stack[n]
      if type(segment) == "number" then
        out[#out + 1] = "[" .. segment .. "]"
      elseif type(segment) == "table" then -- a map key, from the client: printable ASCII only
        out[#out + 1] = '["' .. gsub(segment[1], '[^ -~]', "?") .. '"]'
      else
        out[#out + 1] = (#out > 0 and "." or "") .. segment
      end
    end
    return concat(out)
  end

  local function fail(description)
    error({ path = path_text(), description = description }, 0)
  end

  local function syntax()
    error({ path = "", description = "is not valid JSON (at byte " .. i .. ")" }, 0)
  end

  local function skip_ws()
    i = find(s, "[^ \t\r\n]", i) or #s + 1
  end

  local function enter()
    depth = depth + 1
    if depth > JSON_MAX_DEPTH then fail("is nested too deeply") end
  end

  local function literal(word)
    if sub(s, i, i + #word - 1) ~= word then syntax() end
    i = i + #word
  end

  -- i on an opening quote: moves past the string; returns its raw contents and whether it has escapes.
  local function string_token()
    local start, j, escaped = i + 1, i + 1, false
    while true do
      local k = find(s, '[%z\1-\31"\\]', j)
      if not k then i = #s + 1; syntax() end
      local c = byte(s, k)
      if c == 34 then
        i = k + 1
        return sub(s, start, k - 1), escaped
      end
      i = k
      if c ~= 92 then syntax() end -- a raw control character
      escaped = true
      c = byte(s, k + 1)
      if c == 117 then
        if not find(s, "^%x%x%x%x", k + 2) then syntax() end
        j = k + 6
      elseif ESCAPES[c] then
        j = k + 2
      else
        syntax()
      end
    end
  end

  local function string_value()
    local raw, escaped = string_token()
    return escaped and json_unescape(raw) or raw
  end

  -- A JSON number starting at j: the index just past it and whether it is digits alone; nil if malformed.
  local function scan_number(text, j)
    if byte(text, j) == 45 then j = j + 1 end -- "-"
    local c = byte(text, j)
    if c == 48 then
      j = j + 1
    elseif c and c >= 49 and c <= 57 then
      j = find(text, "[^0-9]", j) or #text + 1
    else
      return nil
    end
    local plain = true
    if byte(text, j) == 46 then -- "."
      local k = find(text, "[^0-9]", j + 1) or #text + 1
      if k == j + 1 then return nil end
      j, plain = k, false
    end
    c = byte(text, j)
    if c == 101 or c == 69 then -- "e", "E"
      j = j + 1
      c = byte(text, j)
      if c == 43 or c == 45 then j = j + 1 end
      local k = find(text, "[^0-9]", j) or #text + 1
      if k == j then return nil end
      j, plain = k, false
    end
    return j, plain
  end

  local function number_token()
    local start = i
    local j, plain = scan_number(s, i)
    if not j then syntax() end
    i = j
    return sub(s, start, j - 1), plain
  end

  local function integer_in_range(text, plain, kind)
    local limit, negative = LIMITS[kind], byte(text, 1) == 45
    local max = limit[negative and 1 or 2]
    if plain then
      local digits = negative and sub(text, 2) or text
      return #digits < #max or (#digits == #max and digits <= max)
    end
    local n = tonumber(text) -- 1.0 and 1e3 are integers too
    if not n or n ~= floor(n) then return false end
    return (negative and -n or n) <= tonumber(max)
  end

  local function is_number_text(text)
    return scan_number(text, 1) == #text + 1
  end

  local any

  local function any_object()
    i = i + 1
    enter()
    skip_ws()
    if byte(s, i) == 125 then
      i = i + 1
    else
      while true do
        skip_ws()
        if byte(s, i) ~= 34 then syntax() end
        string_token()
        skip_ws()
        literal(":")
        any()
        skip_ws()
        local c = byte(s, i)
        if c == 125 then i = i + 1; break end
        if c ~= 44 then syntax() end
        i = i + 1
      end
    end
    depth = depth - 1
  end

  local function any_array()
    i = i + 1
    enter()
    skip_ws()
    if byte(s, i) == 93 then
      i = i + 1
    else
      while true do
        any()
        skip_ws()
        local c = byte(s, i)
        if c == 93 then i = i + 1; break end
        if c ~= 44 then syntax() end
        i = i + 1
      end
    end
    depth = depth - 1
  end

  -- Any well-formed JSON value (unknown fields, google.protobuf.Value): syntax and depth only.
  any = function()
    skip_ws()
    local c = byte(s, i)
    if c == 123 then any_object()
    elseif c == 91 then any_array()
    elseif c == 34 then string_token()
    elseif c == 116 then literal("true")
    elseif c == 102 then literal("false")
    elseif c == 110 then literal("null")
    else number_token()
    end
  end

  local check

  -- i on "[": each element against spec (its kind, not its list).
  local function list(spec)
    i = i + 1
    enter()
    skip_ws()
    if byte(s, i) == 93 then
      i = i + 1
    else
      local index = 0
      while true do
        top = top + 1
        stack[top] = index
        check(spec, true)
        top = top - 1
        skip_ws()
        local c = byte(s, i)
        if c == 93 then i = i + 1; break end
        if c ~= 44 then syntax() end
        i, index = i + 1, index + 1
      end
    end
    depth = depth - 1
  end

  -- i on "{": members of a message (fields: name -> spec) or of a map (spec.k == "map"). For the
  -- body itself, `body` is its spec: members the path sets (body.pv) are refused, and so are
  -- unknown ones when it is closed.
  local function members(fields, map, body)
    i = i + 1
    enter()
    skip_ws()
    if byte(s, i) == 125 then
      i = i + 1
      depth = depth - 1
      return
    end
    local seen = {}
    while true do
      skip_ws()
      if byte(s, i) ~= 34 then syntax() end
      local key = string_value()
      skip_ws()
      literal(":")
      local spec = map and map.v or fields[key]
      if body and body.pv and body.pv[key] then
        top = top + 1
        stack[top] = spec and spec.n or key
        fail("is set by the path")
      end
      if body and body.closed and not spec then
        top = top + 1
        stack[top] = gsub(key, '[^ -~]', "?")
        fail(body.closed)
      end
      if spec then
        top = top + 1
        stack[top] = map and { key } or spec.n
        local id = map and key or spec.n
        if seen[id] then fail("is given more than once") end
        seen[id] = true
        if map then
          local kind = map.mk
          if kind == "bool" then
            if key ~= "true" and key ~= "false" then fail("must be keyed by true or false") end
          elseif LIMITS[kind] then
            if not (find(key, "^-?[1-9]%d*$") or key == "0") or not integer_in_range(key, true, kind) then
              fail("must be keyed by " .. RANGES[kind])
            end
          end
        end
        check(spec, map ~= nil)
        top = top - 1
      else
        any()
      end
      skip_ws()
      local c = byte(s, i)
      if c == 125 then i = i + 1; break end
      if c ~= 44 then syntax() end
      i = i + 1
    end
    depth = depth - 1
  end

  -- JSON integers are written plainly (not 1.0 or 1e3); 32-bit ones are numbers, never strings
  -- (proto3 JSON prints only 64-bit integers as strings).
  local function integer(kind, c)
    local text, plain
    if c == 34 and (kind == "int64" or kind == "uint64") then
      text = string_value()
      if not (find(text, "^-?[1-9]%d*$") or text == "0" or text == "-0") then fail("must be " .. RANGES[kind]) end
      plain = true
    elseif c == 45 or (c and c >= 48 and c <= 57) then
      text, plain = number_token()
    else
      fail("must be " .. RANGES[kind])
    end
    if not plain or not integer_in_range(text, true, kind) then fail("must be " .. RANGES[kind]) end
  end

  -- The value at i against spec; `element`: it is one element of a list (or a map's value).
  check = function(spec, element)
    skip_ws()
    local c, kind = byte(s, i), spec.k
    if not VALUE_START[c] then syntax() end
    if c == 110 then -- null: the field's default; not an element, unless a google.protobuf.Value
      if (element or spec.nn) and kind ~= "value" then fail("must not be null") end
      literal("null")
      return
    end
    if spec.r and not element then
      if c ~= 91 then fail("must be a list") end
      return list(spec)
    end
    if kind == "string" or kind == "bytes" then
      if c ~= 34 then fail("must be a string") end
      string_token()
    elseif kind == "bool" then
      if c == 116 then literal("true")
      elseif c == 102 then literal("false")
      else fail("must be true or false")
      end
    elseif LIMITS[kind] then
      integer(kind, c)
    elseif kind == "message" then
      if c ~= 123 then fail("must be an object") end
      members(JSON_SHAPES.messages[spec.m], nil, spec.n == "" and spec or nil)
    elseif kind == "map" then
      if c ~= 123 then fail("must be an object") end
      members(nil, spec)
    elseif kind == "float" then
      if c == 34 then
        local text = string_value()
        if text ~= "NaN" and text ~= "Infinity" and text ~= "-Infinity" and not is_number_text(text) then
          fail("must be a number")
        end
      elseif c == 45 or (c and c >= 48 and c <= 57) then
        number_token()
      else
        fail("must be a number")
      end
    elseif kind == "enum" then
      if c == 34 then
        string_token()
      else
        local ok = c == 45 or (c and c >= 48 and c <= 57)
        if not ok then fail("must be a name or a number") end
        local text, plain = number_token()
        if not integer_in_range(text, plain, "int32") then fail("must be a name or a number") end
      end
    elseif kind == "struct" or kind == "any" then
      if c ~= 123 then fail("must be an object") end
      any()
    elseif kind == "listvalue" then
      if c ~= 91 then fail("must be a list") end
      any()
    else -- "value": any JSON
      any()
    end
  end

  -- json_body_error(text, spec) -> nil when text is a JSON value of shape spec, else the path of
  -- the offending field ("" for the body itself) and what is wrong with it.
  function json_body_error(text, spec)
    s, i, depth, top = text, 1, 0, 0
    local ok, problem = pcall(function()
      if spec.n ~= "" then
        top = 1
        stack[1] = spec.n
      end
      skip_ws()
      if spec.k == "message" and not spec.r and byte(s, i) ~= 123 then fail("must be a JSON object") end
      if spec.r and byte(s, i) == 110 then fail("must be a list") end -- a list body: null is no list
      check(spec, false)
      skip_ws()
      if i <= #s then syntax() end
    end)
    s = ""
    if ok then return nil end
    if type(problem) ~= "table" then error(problem, 0) end -- a bug here, not the client's
    return problem.path, problem.description
  end

  -- The transcoder's path matcher (grpc-httpjson-transcoding): the path without its query, split
  -- at "/", trailing empty segments dropped; then literal segments before variables, backtracking
  -- when a branch lacks the method. No template has a custom verb (the generator refuses them)
  -- and match_unregistered_custom_verb is off, so a ":" is part of its segment.
  local function lookup(node, parts, k, method)
    if k > #parts then
      local methods = node.methods
      if methods then return methods[method] end
      return nil
    end
    local child = node.lit and node.lit[parts[k]]
    if child then
      local found = lookup(child, parts, k + 1, method)
      if found ~= nil then return found end
    end
    if node.var then return lookup(node.var, parts, k + 1, method) end
    return nil
  end

  -- json_route(method, path) -> the route ({b = body spec, p = path variables, q = query
  -- parameters}), the path's segments and its query string (nil when it has none); nil when the
  -- transcoder has no such route.
  function json_route(method, path)
    local query_at, query = find(path, "?", 1, true), nil
    if query_at then path, query = sub(path, 1, query_at - 1), sub(path, query_at + 1) end
    local parts, pos = {}, 2
    while pos <= #path + 1 do
      local slash = find(path, "/", pos, true) or #path + 1
      parts[#parts + 1] = sub(path, pos, slash - 1)
      pos = slash + 1
    end
    while #parts > 0 and parts[#parts] == "" do parts[#parts] = nil end
    return lookup(JSON_SHAPES.routes, parts, 1, method), parts, query
  end

  -- json_body_shape(method, path) -> the route's body spec; false when it takes no JSON body;
  -- nil when the transcoder has no such route.
  function json_body_shape(method, path)
    local route = json_route(method, path)
    if route == nil then return nil end
    return route.b
  end

  -- Percent-decoding as the transcoder does it (invalid escapes stay as they are); in a query "+"
  -- is a space too (query_param_unescape_plus).
  local function unescape(text, plus)
    if plus then text = gsub(text, "%+", " ") end
    return (gsub(text, "%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
  end

  -- What is wrong with a path or query value of a field of this spec, or nil.
  local function text_value_error(text, spec)
    local kind = spec.k
    if kind == "bool" then
      if text ~= "true" and text ~= "false" then return "must be true or false" end
    elseif LIMITS[kind] then
      if not (find(text, "^-?[1-9]%d*$") or text == "0") or not integer_in_range(text, true, kind) then
        return "must be " .. RANGES[kind]
      end
    elseif kind == "float" then
      if text ~= "NaN" and text ~= "Infinity" and text ~= "-Infinity" and not is_number_text(text) then
        return "must be a number"
      end
    end
    return nil
  end

  -- json_params_error(route, parts, query) -> nil when the path variables and the query string
  -- suit the route, else the name of the offending parameter and what is wrong with it.
  function json_params_error(route, parts, query)
    for index, spec in pairs(route.p) do
      local problem = text_value_error(unescape(parts[index], false), spec)
      if problem then return spec.n, problem end
    end
    if query == nil then return nil end
    local seen = {}
    for pair in string.gmatch(query, "[^&]+") do
      local equals = find(pair, "=", 1, true)
      local name = unescape(equals and sub(pair, 1, equals - 1) or pair, true)
      local spec = route.q[name]
      if not spec then
        return (gsub(name, '[^ -~]', "?")), "is not a query parameter of this route"
      end
      if seen[spec.n] and not spec.r then return spec.n, "is given more than once" end
      seen[spec.n] = true
      local problem = text_value_error(unescape(equals and sub(pair, equals + 1) or "", true), spec)
      if problem then return spec.n, problem end
    end
    return nil
  end

  local function quote(text)
    return '"' .. gsub(text, '[%c"\\]', function(c)
      return string.format("\\u%04x", byte(c))
    end) .. '"'
  end

  -- The google.rpc.Status JSON of a refused body.
  function json_error_body(path, description)
    if path == "" then
      return '{"code":3,"message":' .. quote("request body " .. description) .. ',"details":[]}'
    end
    return '{"code":3,"message":' .. quote(path .. ": " .. description) .. ',"details":[{"@type":'
      .. '"type.googleapis.com/google.rpc.BadRequest","field_violations":[{"field":' .. quote(path)
      .. ',"description":' .. quote(description) .. ',"reason":""}]}]}'
  end

  local function refuse(request_handle, path, description)
    -- Marks the reply so that local_reply_config leaves this body as it is.
    request_handle:streamInfo():dynamicMetadata():set("taskmanager.json_types", "refused", true)
    request_handle:respond({ [":status"] = "400", ["content-type"] = "application/json" },
      json_error_body(path, description))
    return true
  end

  -- Called by envoy_on_request: true when it refused the request (and answered it).
  function refuse_loose_json(request_handle)
    local headers = request_handle:headers()
    local content_type = headers:get("content-type") or ""
    -- Exactly what the transcoder passes through untouched (Envoy's Grpc::Common::hasGrpcContentType).
    if content_type == "application/grpc" or sub(content_type, 1, 17) == "application/grpc+" then
      return false
    end
    local route, parts, query = json_route(headers:get(":method") or "", headers:get(":path") or "")
    if not route then return false end
    local name, problem = json_params_error(route, parts, query)
    if problem then return refuse(request_handle, name, problem) end
    local spec = route.b
    if not spec then return false end
    local body = request_handle:body()
    local length = body and body:length() or 0
    if length == 0 and spec.k == "message" and not spec.r then return false end -- read as {}
    local path, description = json_body_error(length > 0 and body:getBytes(0, length) or "", spec)
    if not description then return false end
    return refuse(request_handle, path, description)
  end
end

-- GENERATED by tools/gen_json_shapes.py from the descriptor set (`make protos`): do not edit.
-- The JSON body each transcoded route takes; json_types.lua checks requests against it.
JSON_SHAPES = {
  messages = {
    ["taskmanager.auth.v1.LoginRequest"] = {
      ["username"] = {n = "username", k = "string", nn = true},
      ["password"] = {n = "password", k = "string", nn = true},
    },
    ["taskmanager.auth.v1.RegisterRequest"] = {
      ["username"] = {n = "username", k = "string", nn = true},
      ["email"] = {n = "email", k = "string", nn = true},
      ["password"] = {n = "password", k = "string", nn = true},
    },
    ["taskmanager.files.v1.ConfirmUploadRequest"] = {
      ["uploadId"] = {n = "upload_id", k = "string", nn = true},
      ["upload_id"] = {n = "upload_id", k = "string", nn = true},
    },
    ["taskmanager.files.v1.CreateUploadUrlRequest"] = {
      ["taskId"] = {n = "task_id", k = "int32", nn = true},
      ["task_id"] = {n = "task_id", k = "int32", nn = true},
      ["filename"] = {n = "filename", k = "string", nn = true},
      ["contentType"] = {n = "content_type", k = "string"},
      ["content_type"] = {n = "content_type", k = "string"},
      ["fileSize"] = {n = "file_size", k = "int32", nn = true},
      ["file_size"] = {n = "file_size", k = "int32", nn = true},
    },
    ["taskmanager.notify.v1.SubscribeRequest"] = {},
    ["taskmanager.notify.v1.UpdatePreferencesRequest"] = {
      ["emailEnabled"] = {n = "email_enabled", k = "bool"},
      ["email_enabled"] = {n = "email_enabled", k = "bool"},
      ["taskSharedWithMe"] = {n = "task_shared_with_me", k = "bool"},
      ["task_shared_with_me"] = {n = "task_shared_with_me", k = "bool"},
      ["taskCompleted"] = {n = "task_completed", k = "bool"},
      ["task_completed"] = {n = "task_completed", k = "bool"},
      ["commentOnMyTask"] = {n = "comment_on_my_task", k = "bool"},
      ["comment_on_my_task"] = {n = "comment_on_my_task", k = "bool"},
      ["taskDueSoon"] = {n = "task_due_soon", k = "bool"},
      ["task_due_soon"] = {n = "task_due_soon", k = "bool"},
    },
    ["taskmanager.notify.v1.VerifyEmailRequest"] = {
      ["code"] = {n = "code", k = "string", nn = true},
    },
    ["taskmanager.tasks.v1.BulkUpdateTasksRequest"] = {
      ["taskIds"] = {n = "task_ids", k = "int32", r = true},
      ["task_ids"] = {n = "task_ids", k = "int32", r = true},
      ["updates"] = {n = "updates", k = "message", m = "taskmanager.tasks.v1.TaskPatch"},
    },
    ["taskmanager.tasks.v1.CreateCommentRequest"] = {
      ["taskId"] = {n = "task_id", k = "int32", nn = true},
      ["task_id"] = {n = "task_id", k = "int32", nn = true},
      ["content"] = {n = "content", k = "string", nn = true},
    },
    ["taskmanager.tasks.v1.CreateTaskRequest"] = {
      ["title"] = {n = "title", k = "string", nn = true},
      ["description"] = {n = "description", k = "string"},
      ["priority"] = {n = "priority", k = "string"},
      ["dueDate"] = {n = "due_date", k = "string"},
      ["due_date"] = {n = "due_date", k = "string"},
      ["tags"] = {n = "tags", k = "string", r = true},
      ["completed"] = {n = "completed", k = "bool"},
    },
    ["taskmanager.tasks.v1.ShareTaskRequest"] = {
      ["taskId"] = {n = "task_id", k = "int32", nn = true},
      ["task_id"] = {n = "task_id", k = "int32", nn = true},
      ["sharedWithUsername"] = {n = "shared_with_username", k = "string", nn = true},
      ["shared_with_username"] = {n = "shared_with_username", k = "string", nn = true},
      ["permission"] = {n = "permission", k = "string"},
    },
    ["taskmanager.tasks.v1.TaskPatch"] = {
      ["title"] = {n = "title", k = "value"},
      ["description"] = {n = "description", k = "value"},
      ["completed"] = {n = "completed", k = "value"},
      ["priority"] = {n = "priority", k = "value"},
      ["dueDate"] = {n = "due_date", k = "value"},
      ["due_date"] = {n = "due_date", k = "value"},
      ["tags"] = {n = "tags", k = "value"},
    },
    ["taskmanager.tasks.v1.UpdateCommentRequest"] = {
      ["taskId"] = {n = "task_id", k = "int32", nn = true},
      ["task_id"] = {n = "task_id", k = "int32", nn = true},
      ["commentId"] = {n = "comment_id", k = "int32", nn = true},
      ["comment_id"] = {n = "comment_id", k = "int32", nn = true},
      ["content"] = {n = "content", k = "string", nn = true},
    },
    ["taskmanager.tasks.v1.UpdateSharePermissionRequest"] = {
      ["taskId"] = {n = "task_id", k = "int32", nn = true},
      ["task_id"] = {n = "task_id", k = "int32", nn = true},
      ["username"] = {n = "username", k = "string", nn = true},
      ["permission"] = {n = "permission", k = "string", nn = true},
    },
  },
  routes = {
    lit = {
      ["activity"] = {
        methods = {GET = {b = false, p = {}, q = {["resourceType"] = {n = "resource_type", k = "string"}, ["resource_type"] = {n = "resource_type", k = "string"}, ["action"] = {n = "action", k = "string"}, ["startDate"] = {n = "start_date", k = "string"}, ["start_date"] = {n = "start_date", k = "string"}, ["endDate"] = {n = "end_date", k = "string"}, ["end_date"] = {n = "end_date", k = "string"}, ["limit"] = {n = "limit", k = "int32"}, ["offset"] = {n = "offset", k = "int32"}, ["pageToken"] = {n = "page_token", k = "string", nn = true}, ["page_token"] = {n = "page_token", k = "string", nn = true}}}},
        lit = {
          ["stats"] = {
            methods = {GET = {b = false, p = {}, q = {}}},
          },
          ["tasks"] = {
            var = {
              methods = {GET = {b = false, p = {[3] = {n = "task_id", k = "int32", nn = true}}, q = {["pageSize"] = {n = "page_size", k = "int32", nn = true}, ["page_size"] = {n = "page_size", k = "int32", nn = true}, ["pageToken"] = {n = "page_token", k = "string", nn = true}, ["page_token"] = {n = "page_token", k = "string", nn = true}}}},
            },
          },
        },
      },
      ["auth"] = {
        lit = {
          ["jwks"] = {
            methods = {GET = {b = false, p = {}, q = {}}},
          },
          ["login"] = {
            methods = {POST = {b = {n = "", k = "message", m = "taskmanager.auth.v1.LoginRequest"}, p = {}, q = {}}},
          },
          ["me"] = {
            methods = {GET = {b = false, p = {}, q = {}}},
          },
          ["register"] = {
            methods = {POST = {b = {n = "", k = "message", m = "taskmanager.auth.v1.RegisterRequest"}, p = {}, q = {}}},
          },
        },
      },
      ["comments"] = {
        var = {
          methods = {DELETE = {b = false, p = {[2] = {n = "comment_id", k = "int32", nn = true}}, q = {["taskId"] = {n = "task_id", k = "int32", nn = true}, ["task_id"] = {n = "task_id", k = "int32", nn = true}}}, PATCH = {b = {n = "", k = "message", m = "taskmanager.tasks.v1.UpdateCommentRequest", pv = {["commentId"] = true, ["comment_id"] = true}}, p = {[2] = {n = "comment_id", k = "int32", nn = true}}, q = {}}},
        },
      },
      ["files"] = {
        lit = {
          ["confirm-upload"] = {
            methods = {POST = {b = {n = "", k = "message", m = "taskmanager.files.v1.ConfirmUploadRequest"}, p = {}, q = {}}},
          },
          ["upload-url"] = {
            methods = {POST = {b = {n = "", k = "message", m = "taskmanager.files.v1.CreateUploadUrlRequest"}, p = {}, q = {}}},
          },
        },
        var = {
          methods = {DELETE = {b = false, p = {[2] = {n = "id", k = "int32", nn = true}}, q = {}}, GET = {b = false, p = {[2] = {n = "id", k = "int32", nn = true}}, q = {}}},
          lit = {
            ["download-url"] = {
              methods = {POST = {b = false, p = {[2] = {n = "id", k = "int32", nn = true}}, q = {}}},
            },
          },
        },
      },
      ["health"] = {
        methods = {GET = {b = false, p = {}, q = {}}},
      },
      ["notifications"] = {
        lit = {
          ["preferences"] = {
            methods = {GET = {b = false, p = {}, q = {}}, PATCH = {b = {n = "", k = "message", m = "taskmanager.notify.v1.UpdatePreferencesRequest", closed = "is not a preference that can be set"}, p = {}, q = {}}},
          },
          ["subscribe"] = {
            methods = {POST = {b = {n = "", k = "message", m = "taskmanager.notify.v1.SubscribeRequest"}, p = {}, q = {}}},
          },
          ["verify"] = {
            methods = {POST = {b = {n = "", k = "message", m = "taskmanager.notify.v1.VerifyEmailRequest"}, p = {}, q = {}}},
          },
        },
      },
      ["tasks"] = {
        methods = {GET = {b = false, p = {}, q = {["completed"] = {n = "completed", k = "bool"}, ["priority"] = {n = "priority", k = "string"}, ["tags"] = {n = "tags", k = "string", r = true}, ["overdue"] = {n = "overdue", k = "bool"}, ["search"] = {n = "search", k = "string"}, ["createdAfter"] = {n = "created_after", k = "string"}, ["created_after"] = {n = "created_after", k = "string"}, ["createdBefore"] = {n = "created_before", k = "string"}, ["created_before"] = {n = "created_before", k = "string"}, ["dueAfter"] = {n = "due_after", k = "string"}, ["due_after"] = {n = "due_after", k = "string"}, ["dueBefore"] = {n = "due_before", k = "string"}, ["due_before"] = {n = "due_before", k = "string"}, ["sortBy"] = {n = "sort_by", k = "string"}, ["sort_by"] = {n = "sort_by", k = "string"}, ["sortOrder"] = {n = "sort_order", k = "string"}, ["sort_order"] = {n = "sort_order", k = "string"}, ["skip"] = {n = "skip", k = "int32"}, ["limit"] = {n = "limit", k = "int32"}, ["pageToken"] = {n = "page_token", k = "string", nn = true}, ["page_token"] = {n = "page_token", k = "string", nn = true}}}, POST = {b = {n = "", k = "message", m = "taskmanager.tasks.v1.CreateTaskRequest"}, p = {}, q = {}}},
        lit = {
          ["bulk"] = {
            methods = {PATCH = {b = {n = "", k = "message", m = "taskmanager.tasks.v1.BulkUpdateTasksRequest"}, p = {}, q = {}}},
          },
          ["shared-with-me"] = {
            methods = {GET = {b = false, p = {}, q = {["pageSize"] = {n = "page_size", k = "int32", nn = true}, ["page_size"] = {n = "page_size", k = "int32", nn = true}, ["pageToken"] = {n = "page_token", k = "string", nn = true}, ["page_token"] = {n = "page_token", k = "string", nn = true}}}},
          },
          ["stats"] = {
            methods = {GET = {b = false, p = {}, q = {}}},
          },
        },
        var = {
          methods = {DELETE = {b = false, p = {[2] = {n = "id", k = "int32", nn = true}}, q = {}}, GET = {b = false, p = {[2] = {n = "id", k = "int32", nn = true}}, q = {}}, PATCH = {b = {n = "", k = "message", m = "taskmanager.tasks.v1.TaskPatch"}, p = {[2] = {n = "id", k = "int32", nn = true}}, q = {}}},
          lit = {
            ["comments"] = {
              methods = {GET = {b = false, p = {[2] = {n = "task_id", k = "int32", nn = true}}, q = {["pageSize"] = {n = "page_size", k = "int32", nn = true}, ["page_size"] = {n = "page_size", k = "int32", nn = true}, ["pageToken"] = {n = "page_token", k = "string", nn = true}, ["page_token"] = {n = "page_token", k = "string", nn = true}}}, POST = {b = {n = "", k = "message", m = "taskmanager.tasks.v1.CreateCommentRequest", pv = {["taskId"] = true, ["task_id"] = true}}, p = {[2] = {n = "task_id", k = "int32", nn = true}}, q = {}}},
              var = {
                methods = {DELETE = {b = false, p = {[2] = {n = "task_id", k = "int32", nn = true}, [4] = {n = "comment_id", k = "int32", nn = true}}, q = {}}, PATCH = {b = {n = "", k = "message", m = "taskmanager.tasks.v1.UpdateCommentRequest", pv = {["taskId"] = true, ["task_id"] = true, ["commentId"] = true, ["comment_id"] = true}}, p = {[2] = {n = "task_id", k = "int32", nn = true}, [4] = {n = "comment_id", k = "int32", nn = true}}, q = {}}},
              },
            },
            ["files"] = {
              methods = {GET = {b = false, p = {[2] = {n = "task_id", k = "int32", nn = true}}, q = {["pageSize"] = {n = "page_size", k = "int32", nn = true}, ["page_size"] = {n = "page_size", k = "int32", nn = true}, ["pageToken"] = {n = "page_token", k = "string", nn = true}, ["page_token"] = {n = "page_token", k = "string", nn = true}}}, POST = {b = false, p = {[2] = {n = "task_id", k = "int32", nn = true}}, q = {["filename"] = {n = "filename", k = "string"}}}},
            },
            ["share"] = {
              methods = {POST = {b = {n = "", k = "message", m = "taskmanager.tasks.v1.ShareTaskRequest", pv = {["taskId"] = true, ["task_id"] = true}}, p = {[2] = {n = "task_id", k = "int32", nn = true}}, q = {}}},
              var = {
                methods = {DELETE = {b = false, p = {[2] = {n = "task_id", k = "int32", nn = true}, [4] = {n = "username", k = "string", nn = true}}, q = {}}, PUT = {b = {n = "", k = "message", m = "taskmanager.tasks.v1.UpdateSharePermissionRequest", pv = {["taskId"] = true, ["task_id"] = true, ["username"] = true}}, p = {[2] = {n = "task_id", k = "int32", nn = true}, [4] = {n = "username", k = "string", nn = true}}, q = {}}},
              },
            },
            ["tags"] = {
              methods = {POST = {b = {n = "tags", k = "string", r = true}, p = {[2] = {n = "id", k = "int32", nn = true}}, q = {}}},
              var = {
                methods = {DELETE = {b = false, p = {[2] = {n = "id", k = "int32", nn = true}, [4] = {n = "tag", k = "string", nn = true}}, q = {}}},
              },
            },
          },
        },
      },
      ["version"] = {
        methods = {GET = {b = false, p = {}, q = {}}},
      },
    },
  },
}

-- Response rules for JSON clients (runs after the transcoder: filters see responses in reverse).
-- Needs extract_member() from json_member.lua and refuse_loose_json() from json_types.lua, which
-- the stack prepends to this file.
-- * `x-http-code` (initial metadata from the service) becomes the HTTP status: 201, 204, 503.
-- * `x-response-body: <field>` names the member whose value is the whole JSON body (the
--   method's google.api.http response_body, which Envoy 1.40 cannot apply itself).
-- * 204 responses lose the "{}" body the transcoder still emits.
-- * JSON responses do not leak gRPC headers. Native gRPC responses pass untouched.
-- Marks JSON requests before the transcoder turns them into gRPC, so that Envoy's own error
-- replies (e.g. the transcoder's 400 for a body it cannot parse) still get the JSON error shape.
-- Drops the headers of a JSON request that gRPC metadata cannot carry (not_for_grpc).
-- Refuses URIs over MAX_URI_BYTES with 414: the transcoder would pass them on in headers
-- (x-envoy-original-path) that no upstream should have to take.
MAX_URI_BYTES = 8192

-- Envoy takes application/grpc and application/grpc+proto (and such) as native gRPC; anything
-- else, application/grpc-web included, is transcoded as JSON.
function is_native_grpc(content_type)
  local rest = string.sub(content_type, 17, 17)
  return string.sub(content_type, 1, 16) == "application/grpc" and (rest == "" or rest == "+" or rest == ";")
end

-- The headers of a JSON request that must not reach the service as gRPC metadata:
-- * gRPC's call options mean nothing on a JSON request, yet the service would obey them: a 1 ns
--   grpc-timeout was a 504, a grpc-encoding the body is not in a 500;
-- * HTTP allows names gRPC does not (only 0-9 a-z _ . -), and a "-bin" value must be base64:
--   the service's gRPC stack failed the whole call on either (500 "Illegal header key").
function not_for_grpc(name)
  if string.sub(name, 1, 1) == ":" then
    return false
  end
  return string.sub(name, 1, 5) == "grpc-" or string.sub(name, -4) == "-bin"
    or string.find(name, "[^0-9a-z_.-]") ~= nil
end

function envoy_on_request(request_handle)
  local headers = request_handle:headers()
  if #(headers:get(":path") or "") > MAX_URI_BYTES then
    request_handle:respond({[":status"] = "414"}, "request URI too long")
    return
  end
  local content_type = headers:get("content-type") or ""
  if is_native_grpc(content_type) then
    headers:remove("x-json-client")
  else
    headers:replace("x-json-client", "1")
    local dropped = {}
    for name, _ in pairs(headers) do
      if not_for_grpc(name) then dropped[#dropped + 1] = name end
    end
    for _, name in ipairs(dropped) do headers:remove(name) end
  end
  refuse_loose_json(request_handle)
end

function envoy_on_response(response_handle)
  local headers = response_handle:headers()
  local code = headers:get("x-http-code")
  local member = headers:get("x-response-body")
  local content_type = headers:get("content-type") or ""
  if string.sub(content_type, 1, 16) == "application/grpc" then
    return
  end
  headers:remove("x-http-code")
  headers:remove("x-response-body")
  headers:remove("grpc-status")
  headers:remove("grpc-message")
  headers:remove("grpc-status-details-bin")
  headers:remove("grpc-accept-encoding")
  if code ~= nil then
    headers:replace(":status", code)
  end
  if code == "204" then
    headers:remove("content-type")
    response_handle:body():setBytes("")
    headers:remove("content-length")
  elseif member ~= nil then
    local body = response_handle:body()
    local value = extract_member(body:getBytes(0, body:length()), member)
    if value ~= nil then
      body:setBytes(value)
    end
  end
end
