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
