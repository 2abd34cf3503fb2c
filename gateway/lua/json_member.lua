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
