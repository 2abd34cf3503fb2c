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
