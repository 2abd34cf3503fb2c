"""Generate the OpenAPI 3.1 document of the JSON API from the protos (after gen_protos.py).

    python tools/gen_openapi.py      # build/descriptors/contract.pb -> build/openapi/openapi.json

Every google.api.http rule (additional bindings too) of the services the gateway transcodes
(gateway.TRANSCODED_SERVICES; internal services have no rules) becomes an operation, with the
shapes the gateway really prints, not proto3 JSON's defaults: gateway/envoy.yaml.in's transcoder
sets preserve_proto_field_names (snake_case) and always_print_primitive_fields (non-optional
scalars, lists and maps are always there; `optional` fields and unset messages are left out).
int32 is a JSON integer, int64 a string, Timestamp an RFC 3339 string, Value any JSON, Struct an
object. `body` and `response_body` are honoured (`body: "tags"` is a bare JSON array;
`response_body: "comments"` answers one). Descriptions are the proto comments. A 201 answering a
resource links (OpenAPI links) to the operations whose path variables it fills: POST /tasks's
`id` to GET/PATCH/DELETE /tasks/{id} and to {task_id} under /tasks, a comment's to its own. What
the protos cannot say (statuses the services set, public routes, which errors a route can answer, value sets
and limits the domain checks) is in the tables below; tests/contract/test_openapi.py checks the
statuses, the public routes and most limits against the code and config that define them.
Built by `make protos`; never committed.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_SET = ROOT / "build" / "descriptors" / "contract.pb"
OUT = ROOT / "build" / "openapi" / "openapi.json"
sys.path.insert(0, str(ROOT / "libs" / "devstack"))
from tm_devstack.gateway import TRANSCODED_SERVICES  # noqa: E402

Field = descriptor_pb2.FieldDescriptorProto
Schema = dict[str, Any]
VERBS = ("get", "put", "post", "delete", "patch")
HTTP_BODY = ".google.api.HttpBody"
EMPTY = ".google.protobuf.Empty"
STATUS = ".google.rpc.Status"
INT32: Schema = {"type": "integer", "format": "int32"}
SCALARS: dict[int, Schema] = {
    Field.TYPE_BOOL: {"type": "boolean"},
    Field.TYPE_STRING: {"type": "string"},
    Field.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    Field.TYPE_DOUBLE: {"type": "number", "format": "double"},
    Field.TYPE_FLOAT: {"type": "number", "format": "float"},
    Field.TYPE_INT32: INT32,
    Field.TYPE_SINT32: INT32,
    Field.TYPE_SFIXED32: INT32,
    Field.TYPE_UINT32: {**INT32, "minimum": 0},
    Field.TYPE_FIXED32: {**INT32, "minimum": 0},
    # proto3 JSON prints 64-bit integers as strings.
    Field.TYPE_INT64: {"type": "string", "format": "int64"},
    Field.TYPE_SINT64: {"type": "string", "format": "int64"},
    Field.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    Field.TYPE_UINT64: {"type": "string", "format": "uint64"},
    Field.TYPE_FIXED64: {"type": "string", "format": "uint64"},
}
WELL_KNOWN: dict[str, Schema] = {
    ".google.protobuf.Value": {},  # any JSON value
    ".google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    ".google.protobuf.ListValue": {"type": "array", "items": {}},
    ".google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
    ".google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    ".google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"},
    ".google.protobuf.FieldMask": {"type": "string"},
    ".google.protobuf.Empty": {"type": "object"},
    ".google.protobuf.BoolValue": {"type": "boolean"},
    ".google.protobuf.StringValue": {"type": "string"},
    ".google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
    ".google.protobuf.DoubleValue": {"type": "number"},
    ".google.protobuf.FloatValue": {"type": "number"},
    ".google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
    ".google.protobuf.UInt32Value": {"type": "integer", "format": "int32", "minimum": 0},
    ".google.protobuf.Int64Value": {"type": "string", "format": "int64"},
    ".google.protobuf.UInt64Value": {"type": "string", "format": "uint64"},
}
BINARY: Schema = {"type": "string", "format": "binary"}

# --- What the protos cannot say. Each table is checked against its source by the contract tests.

# HTTP statuses the services set (tm_common.http created()/no_content() in services/*/entrypoints);
# every other success is 200.
SUCCESS_STATUS = {
    "Register": 201,
    "CreateTask": 201,
    "DeleteTask": 204,
    "ShareTask": 201,
    "UnshareTask": 204,
    "CreateComment": 201,
    "DeleteComment": 204,
    "CreateFile": 201,
    "DeleteFile": 204,
    "ConfirmUpload": 201,
}
# RPCs whose routes Envoy's jwt_authn leaves public (gateway/envoy.yaml.in, "Public:" rules).
PUBLIC = {"Register", "Login", "GetJwks", "GetHealth", "GetVersion"}
# Public RPCs that still answer 401: wrong credentials.
WRONG_CREDENTIALS = {"Login"}
# RPCs that answer 409 (ALREADY_EXISTS): a taken username or email, a task already shared.
CONFLICTS = {"Register", "ShareTask"}
# Request fields that name another resource, so an unknown or hidden one is a 404.
RESOURCE_FIELDS = {"task_id", "task_ids", "upload_id", "shared_with_username"}

# Value sets and limits, keyed "Message.field". The protos hold them only as comments (strings
# rather than enums, see tasks.proto); the numbers are the domain's (tasks/domain/rules.py,
# listing.py, comments.py; auth/domain/accounts.py; activity/domain/queries.py). Keep in step.
PRIORITY = {"enum": ["low", "medium", "high"]}
SHARE_PERMISSION = {"enum": ["view", "edit"]}
TASK_PERMISSION = {"enum": ["owner", "edit", "view"]}
DATE = {"format": "date"}
# Titles, tags and usernames are trimmed before their length is checked (a title of 200
# characters between spaces is taken, tests/e2e/test_tasks_http.py), so no maxLength bounds what
# may be sent; TRIMMED_MAX_LENGTH carries the limit, and the description says it.
TRIMMED_MAX_LENGTH = "x-trimmedMaxLength"
TITLE = {"minLength": 1, TRIMMED_MAX_LENGTH: 200}
DESCRIPTION = {"maxLength": 1000}
TAGS = {"maxItems": 50, "items": {"type": "string", "minLength": 1, TRIMMED_MAX_LENGTH: 50}}
CONTENT = {"minLength": 1, "maxLength": 1000}
RESOURCE_TYPE = {"enum": ["task", "comment", "file"]}
ACTION = {"enum": ["created", "updated", "deleted", "shared", "unshared", "uploaded"]}
PAGED = ("GetTaskTimelineRequest", "ListSharedWithMeRequest", "ListCommentsRequest", "ListFilesRequest")
LIMITS: dict[str, Schema] = {
    **{
        f"{m}.priority": PRIORITY
        for m in ("Task", "TaskWithComments", "CreateTaskRequest", "ListTasksRequest")
    },
    **{f"{m}.permission": TASK_PERMISSION for m in ("Task", "TaskWithComments")},
    **{f"{m}.due_date": DATE for m in ("Task", "TaskWithComments", "CreateTaskRequest")},
    **{
        f"{m}.permission": SHARE_PERMISSION
        for m in ("Share", "ShareTaskRequest", "UpdateSharePermissionRequest")
    },
    **{f"{m}.content": CONTENT for m in ("Comment", "CreateCommentRequest", "UpdateCommentRequest")},
    "CreateTaskRequest.title": TITLE,
    "CreateTaskRequest.description": DESCRIPTION,
    "CreateTaskRequest.tags": TAGS,
    "AddTaskTagsRequest.tags": TAGS,
    "ListTasksRequest.tags": {"maxItems": 50},
    "ListTasksRequest.search": {"maxLength": 200},
    "ListTasksRequest.sort_by": {"enum": ["id", "title", "priority", "completed", "created_at", "due_date"]},
    "ListTasksRequest.sort_order": {"enum": ["asc", "desc"]},
    "ListTasksRequest.skip": {"minimum": 0, "maximum": 1_000_000_000},
    "ListTasksRequest.limit": {"minimum": 1, "maximum": 100},
    "BulkUpdateTasksRequest.task_ids": {"minItems": 1, "maxItems": 100},
    "RegisterRequest.username": {"minLength": 3, TRIMMED_MAX_LENGTH: 50},
    "RegisterRequest.password": {"minLength": 8, "maxLength": 100},
    "RegisterRequest.email": {"format": "email"},
    "ListActivityRequest.resource_type": RESOURCE_TYPE,
    "ListActivityRequest.action": ACTION,
    "ListActivityRequest.limit": {"minimum": 1, "maximum": 100},
    "ListActivityRequest.offset": {"minimum": 0, "maximum": 100_000},
    "ActivityEntry.resource_type": RESOURCE_TYPE,
    "ActivityEntry.action": ACTION,
    **{f"{m}.page_size": {"minimum": 0, "maximum": 1000} for m in PAGED},  # 0: all
    "LoginResponse.token_type": {"enum": ["bearer"]},
    # A patch's Values (tasks.proto TaskPatch): the kinds the service takes, null where it clears.
    "TaskPatch.title": {"type": "string", **TITLE},
    "TaskPatch.description": {"type": ["string", "null"], **DESCRIPTION},
    "TaskPatch.completed": {"type": "boolean"},
    "TaskPatch.priority": {"type": "string", **PRIORITY},
    "TaskPatch.due_date": {"type": ["string", "null"], **DATE},
    "TaskPatch.tags": {"type": ["array", "null"], **TAGS},
}

ERRORS = {
    "400": (
        "BadRequest",
        "Invalid input (google.rpc.BadRequest in details names each field), or a precondition.",
    ),
    "401": ("Unauthorized", "No valid bearer token (at login: a wrong username or password)."),
    "403": ("Forbidden", "The caller can see the resource but may not change it."),
    "404": ("NotFound", "Missing, or not visible to the caller (the same answer)."),
    "409": ("Conflict", "Already exists."),
    "413": ("PayloadTooLarge", "A JSON body over 64 KiB or an upload over 16 MiB."),
    "429": ("TooManyRequests", "Rate limited; google.rpc.RetryInfo in details and a Retry-After header."),
    "default": (
        "Error",
        "Any other error (500, 503 when a dependency is down, 414, 431): google.rpc.Status.",
    ),
}


def clean_comment(text: str) -> str:
    """A proto comment as a description: the common leading space removed, lines kept."""
    lines = [line[1:] if line.startswith(" ") else line for line in text.strip("\n").split("\n")]
    return "\n".join(line.rstrip() for line in lines).strip()


def template_variables(template: str) -> list[str]:
    """The field names of a path template's variables, in order ("/tasks/{id}" -> ["id"])."""
    return re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template)


def not_null(schema: Schema) -> Schema:
    """A request field's schema without the null it may take inside an object."""
    schema = dict(schema)
    if isinstance(schema.get("type"), list):
        schema["type"] = next(kind for kind in schema["type"] if kind != "null")
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    if "oneOf" in schema:
        options = [option for option in schema.pop("oneOf") if option != {"type": "null"}]
        schema = {**schema, **options[0]}
    return schema


def http_bindings(rule: Any) -> Iterator[tuple[str, str, Any]]:
    """(verb, path template, binding) of a google.api.http rule and its additional bindings."""
    for binding in [rule, *rule.additional_bindings]:
        verb = binding.WhichOneof("pattern")
        if verb not in VERBS:
            raise ValueError(f"{verb} rules are not supported")
        yield verb, getattr(binding, verb), binding


class Protos:
    """The messages, services and comments of a descriptor set."""

    def __init__(self, descriptors: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.services: dict[str, descriptor_pb2.ServiceDescriptorProto] = {}
        self.comments: dict[str, str] = {}  # ".pkg.Msg", ".pkg.Msg.field", "pkg.Svc", "pkg.Svc.Rpc"
        for file in descriptors.file:
            docs = {
                tuple(loc.path): clean_comment(loc.leading_comments or loc.trailing_comments)
                for loc in file.source_code_info.location
                if loc.leading_comments or loc.trailing_comments
            }
            prefix = f".{file.package}" if file.package else ""
            self._add_messages(prefix, file.message_type, (4,), docs)
            for s_index, service in enumerate(file.service):
                name = f"{file.package}.{service.name}"
                self.services[name] = service
                self._doc(name, docs.get((6, s_index)))
                for m_index, method in enumerate(service.method):
                    self._doc(f"{name}.{method.name}", docs.get((6, s_index, 2, m_index)))

    def _doc(self, key: str, text: str | None) -> None:
        if text:
            self.comments[key] = text

    def _add_messages(
        self,
        prefix: str,
        messages: Iterable[descriptor_pb2.DescriptorProto],
        path: tuple[int, ...],
        docs: dict[tuple[int, ...], str],
    ) -> None:
        for index, message in enumerate(messages):
            name = f"{prefix}.{message.name}"
            self.messages[name] = message
            self._doc(name, docs.get((*path, index)))
            for f_index, field in enumerate(message.field):
                self._doc(f"{name}.{field.name}", docs.get((*path, index, 2, f_index)))
            self._add_messages(name, message.nested_type, (*path, index, 3), docs)

    def field(self, type_name: str, name: str) -> descriptor_pb2.FieldDescriptorProto:
        return next(f for f in self.messages[type_name].field if f.name == name)


class Document:
    """Builds the OpenAPI document; `schemas` collects the components messages refer to."""

    def __init__(self, protos: Protos, version: str) -> None:
        self.protos = protos
        self.version = version
        self.schemas: dict[str, Schema] = {}
        self.directions: dict[str, str] = {}  # component name -> "in" or "out"
        short = [name.rsplit(".", 1)[1] for name in protos.messages]
        self.names = {
            name: name.rsplit(".", 1)[1] if short.count(name.rsplit(".", 1)[1]) == 1 else name[1:]
            for name in protos.messages
        }

    # --- schemas

    def ref(self, type_name: str, direction: str) -> Schema:
        """A $ref to the message's component, built on first use. Responses ("out") list the
        fields always printed as required; requests ("in") require nothing (the services say what
        is missing) and take null for what may be absent. One message serves one direction."""
        name = self.names[type_name]
        if name in self.directions:
            if self.directions[name] != direction:
                raise ValueError(f"{type_name} is used by both requests and responses")
        else:
            self.directions[name] = direction
            self.schemas[name] = {}  # before recursing: messages may refer to themselves
            self.schemas[name] = self.message(type_name, direction, bound=())
        return {"$ref": f"#/components/schemas/{name}"}

    def message(self, type_name: str, direction: str, bound: Iterable[str]) -> Schema:
        message = self.protos.messages[type_name]
        properties = {
            field.name: self.field(type_name, field, direction)
            for field in message.field
            if field.name not in bound
        }
        schema: Schema = {"type": "object"}
        if type_name in self.protos.comments:
            schema["description"] = self.protos.comments[type_name]
        schema["properties"] = properties
        required = [
            field.name
            for field in message.field
            if direction == "out" and field.name in properties and self.always_printed(field)
        ]
        if required:
            schema["required"] = required
        return schema

    def always_printed(self, field: descriptor_pb2.FieldDescriptorProto) -> bool:
        """always_print_primitive_fields: scalars without presence, lists and maps."""
        if field.label == Field.LABEL_REPEATED:
            return True
        return field.type != Field.TYPE_MESSAGE and not field.HasField("oneof_index")

    def field(self, owner: str, field: descriptor_pb2.FieldDescriptorProto, direction: str) -> Schema:
        """A field's schema with its description and the LIMITS that apply to it."""
        entry = self.protos.messages.get(field.type_name)
        # A request may send null for a field with presence (a message, `optional`) or for a list
        # or map: the gateway takes it as the default (gateway/lua/json_types.lua).
        kind = "object" if entry is not None and entry.options.map_entry else "array"
        nullable = [kind, "null"] if direction == "in" else kind
        if entry is not None and entry.options.map_entry:
            value = self.single(entry.field[1], direction)
            schema: Schema = {"type": nullable, "additionalProperties": value}
        elif field.label == Field.LABEL_REPEATED:
            schema = {"type": nullable, "items": self.single(field, direction)}
        else:
            schema = self.single(field, direction)
            may_be_null = field.type == Field.TYPE_MESSAGE or field.proto3_optional
            if direction == "in" and may_be_null and "type" in schema:
                schema["type"] = [schema["type"], "null"]
            elif direction == "in" and may_be_null and "$ref" in schema:
                schema = {"oneOf": [schema, {"type": "null"}]}
        limits = dict(LIMITS.get(f"{self.protos.messages[owner].name}.{field.name}", {}))
        if "items" in limits:
            schema["items"] = {**schema.get("items", {}), **limits.pop("items")}
        schema.update(limits)
        if "null" in schema.get("type", ()) and "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        comment = self.protos.comments.get(f"{owner}.{field.name}")
        schema = {"description": comment, **schema} if comment else schema
        for part in (schema, schema.get("items", {})):
            if TRIMMED_MAX_LENGTH in part and "trim" not in part.get("description", ""):
                note = f"At most {part[TRIMMED_MAX_LENGTH]} characters once trimmed of surrounding space."
                part["description"] = "\n".join(filter(None, [part.get("description"), note]))
        return schema

    def single(self, field: descriptor_pb2.FieldDescriptorProto, direction: str) -> Schema:
        if field.type == Field.TYPE_ENUM:
            return {"type": "string"}  # none in these protos (they use strings); names would do
        if field.type != Field.TYPE_MESSAGE:
            return copy.deepcopy(SCALARS[field.type])
        if field.type_name in WELL_KNOWN:
            return copy.deepcopy(WELL_KNOWN[field.type_name])
        return self.ref(field.type_name, direction)

    # --- operations

    def operations(self) -> dict[str, dict[str, Any]]:
        paths: dict[str, dict[str, Any]] = {}
        for service_name in TRANSCODED_SERVICES:
            service = self.protos.services[service_name]
            for method in service.method:
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                rule = method.options.Extensions[annotations_pb2.http]
                for index, (verb, template, binding) in enumerate(http_bindings(rule)):
                    operation_id = method.name if index == 0 else f"{method.name}_{index}"
                    operation = self.operation(service_name, method, template, binding, operation_id)
                    paths.setdefault(template, {})[verb] = operation
        return paths

    def operation(
        self,
        service_name: str,
        method: descriptor_pb2.MethodDescriptorProto,
        template: str,
        binding: Any,
        operation_id: str,
    ) -> dict[str, Any]:
        bound = template_variables(template)
        verb = binding.WhichOneof("pattern")
        operation: dict[str, Any] = {"tags": [service_name.rsplit(".", 1)[1]], "operationId": operation_id}
        doc = self.protos.comments.get(f"{service_name}.{method.name}")
        if doc:
            operation["summary"] = doc.split("\n")[0].split(". ")[0].rstrip(".")[:120]
            operation["description"] = doc
        parameters = [self.path_parameter(method.input_type, name) for name in bound]
        parameters += self.query_parameters(method.input_type, binding.body, bound)
        if parameters:
            operation["parameters"] = parameters
        if binding.body:
            operation["requestBody"] = self.request_body(method.input_type, binding.body, bound)
        operation["responses"] = self.responses(method, binding, bound, verb)
        if method.name in PUBLIC:
            operation["security"] = []
        return operation

    def path_parameter(self, type_name: str, name: str) -> Schema:
        field = self.protos.field(type_name, name)
        schema = self.field(type_name, field, "in")
        description = schema.pop("description", None)
        parameter: Schema = {"name": name, "in": "path", "required": True}
        if description:
            parameter["description"] = description
        parameter["schema"] = schema
        return parameter

    def query_parameters(self, type_name: str, body: str, bound: list[str]) -> list[Schema]:
        """The request's scalar fields (or lists of them) that neither the path nor the body sets,
        under their proto names (what clients send; the gateway refuses unknown ones)."""
        if body == "*":
            return []
        parameters = []
        for field in self.protos.messages[type_name].field:
            if field.name in bound or field.name == body or field.type == Field.TYPE_MESSAGE:
                continue
            schema = not_null(self.field(type_name, field, "in"))  # a query string has no null
            description = schema.pop("description", None)
            parameter: Schema = {"name": field.name, "in": "query", "required": False}
            if description:
                parameter["description"] = description
            parameter["schema"] = schema
            if field.label == Field.LABEL_REPEATED:
                parameter.update(style="form", explode=True)
            parameters.append(parameter)
        return parameters

    def request_body(self, type_name: str, body: str, bound: list[str]) -> Schema:
        if body == "*":
            # The transcoder takes a missing body as the empty message, so `{}` and no body are
            # the same request (what the fields require, the service checks either way).
            schema = self.message(type_name, "in", bound) if bound else self.ref(type_name, "in")
            return {"required": False, "content": {"application/json": {"schema": schema}}}
        field = self.protos.field(type_name, body)
        if field.type_name == HTTP_BODY:  # the raw HTTP body: an upload
            multipart = {
                "type": "object",
                "properties": {"file": {**BINARY, "description": "The file, with its filename."}},
                "required": ["file"],
            }
            return {
                "required": True,
                "description": self.protos.comments.get(f"{type_name}.{body}", ""),
                "content": {
                    "multipart/form-data": {"schema": multipart},
                    "application/octet-stream": {"schema": BINARY},
                    "*/*": {"schema": BINARY},
                },
            }
        schema = not_null(self.field(type_name, field, "in"))  # the body is the field itself
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    def responses(
        self, method: descriptor_pb2.MethodDescriptorProto, binding: Any, bound: list[str], verb: str
    ) -> dict[str, Any]:
        status = SUCCESS_STATUS.get(method.name, 200)
        responses: dict[str, Any] = {}
        if status == 204:
            responses["204"] = {"description": "No content."}
        else:
            responses[str(status)] = {
                "description": "OK" if status == 200 else "Created",
                **self.success(method, binding),
            }
        if method.name == "GetHealth":  # the same shape, naming what is down (tm_common/health.py)
            responses["503"] = {"description": "Something is down.", **self.success(method, binding)}
        body_fields = (
            set()
            if binding.body not in ("*", "")
            else {f.name for f in self.protos.messages[method.input_type].field}
        )
        names_resource = bool(bound) or bool(body_fields & RESOURCE_FIELDS)
        codes = ["400"]
        if method.name not in PUBLIC or method.name in WRONG_CREDENTIALS:
            codes.append("401")
        if method.name not in PUBLIC:
            if names_resource and verb != "get":
                codes.append("403")
            if names_resource:
                codes.append("404")
        if method.name in CONFLICTS:
            codes.append("409")
        if binding.body:
            codes.append("413")
        codes += ["429", "default"]
        for code in codes:
            responses[code] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
        return responses

    def success(self, method: descriptor_pb2.MethodDescriptorProto, binding: Any) -> Schema:
        if method.output_type == HTTP_BODY:
            return {
                "headers": {
                    "Content-Disposition": {
                        "description": "attachment, naming the file",
                        "schema": {"type": "string"},
                    }
                },
                "content": {"application/octet-stream": {"schema": BINARY}, "*/*": {"schema": BINARY}},
            }
        if method.output_type == EMPTY:
            return {"content": {"application/json": {"schema": {"type": "object"}}}}
        if binding.response_body:
            field = self.protos.field(method.output_type, binding.response_body)
            schema = self.field(method.output_type, field, "out")
        else:
            schema = self.ref(method.output_type, "out")
        return {"content": {"application/json": {"schema": schema}}}

    # --- the document

    def render(self) -> dict[str, Any]:
        paths = self.operations()
        add_links(paths, self.schemas)
        self.ref(STATUS, "out")
        tags = []
        for service_name in TRANSCODED_SERVICES:
            tag: Schema = {"name": service_name.rsplit(".", 1)[1]}
            if service_name in self.protos.comments:
                tag["description"] = self.protos.comments[service_name]
            tags.append(tag)
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}
        responses = {name: {"description": text, **error} for name, text in ERRORS.values()}
        responses["TooManyRequests"]["headers"] = {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        }
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "Task Manager",
                "version": self.version,
                "description": (
                    "The JSON API of the gateway, generated from the protos by tools/gen_openapi.py. "
                    "Log in with POST /auth/login and send the access token as `Authorization: Bearer`."
                ),
            },
            "servers": [{"url": "/"}],
            "security": [{"bearer": []}],
            "tags": tags,
            "paths": paths,
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
                "responses": responses,
                "schemas": dict(sorted(self.schemas.items())),
            },
        }


def created_resource(operation: dict[str, Any], schemas: dict[str, Schema]) -> tuple[str, Schema] | None:
    """(message name, schema) of what a 201 answers, when it is a resource with an `id`."""
    ref = operation["responses"].get("201", {}).get("content", {}).get("application/json", {})
    ref = ref.get("schema", {}).get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    schema = schemas.get(name, {})
    return (name, schema) if "id" in schema.get("required", ()) else None


def referenced_noun(variable: str, template: str) -> str | None:
    """The resource a path variable names: `{task_id}` a task, `{id}` after `/files` a file."""
    if variable.endswith("_id"):
        return variable.removesuffix("_id")
    before = template.split("/{" + variable + "}", 1)[0].rsplit("/", 1)[-1]
    return before.removesuffix("s") if variable == "id" and before.endswith("s") else None


def link_value(variable: str, template: str, resource: str, fields: Iterable[str]) -> str | None:
    """Where a path variable of `template` comes from in the 201 answering a `resource`: the
    resource's id (`{comment_id}`, or `{id}` after `/comments`), its reference to what the variable
    names (`{task_id}` or `{id}` after `/tasks` <- a comment's `task_id`), or, for a variable that
    names no resource, the one field ending in its name (`{username}` <- `shared_with_username`)."""
    fields = list(fields)
    noun = referenced_noun(variable, template)
    if noun == resource.lower():
        return "$response.body#/id"
    if noun is not None:
        return f"$response.body#/{noun}_id" if f"{noun}_id" in fields else None
    named = [field for field in fields if field.endswith(f"_{variable}")]
    return f"$response.body#/{named[0]}" if len(named) == 1 else None


def operation_links(
    creator_template: str, resource: str, fields: Iterable[str], paths: dict[str, dict[str, Any]]
) -> dict[str, Schema]:
    """OpenAPI links from a 201 to every operation whose path variables it can fill; variables
    it does not name but the creator's path has (`{task_id}`) are copied from the request."""
    fields = list(fields)
    links: dict[str, Schema] = {}
    for template, verbs in paths.items():
        from_response = {
            name: value
            for name in template_variables(template)
            if (value := link_value(name, template, resource, fields)) is not None
        }
        if not from_response:
            continue
        parameters = {
            f"path.{name}": from_response.get(name, f"$request.path.{name}")
            for name in template_variables(template)
            if name in from_response or name in template_variables(creator_template)
        }
        for operation in verbs.values():
            links[operation["operationId"]] = {
                "operationId": operation["operationId"],
                "parameters": parameters,
            }
    return links


def add_links(paths: dict[str, dict[str, Any]], schemas: dict[str, Schema]) -> None:
    """Link each 201 that answers a resource to the operations that take it (stateful clients and
    fuzzers follow them: create a task, then get, patch, comment, share and delete it)."""
    for template, verbs in paths.items():
        for operation in verbs.values():
            created = created_resource(operation, schemas)
            if created is None:
                continue
            name, schema = created
            links = operation_links(template, name, schema["properties"], paths)
            if links:
                operation["responses"]["201"]["links"] = links


def generate(descriptors: descriptor_pb2.FileDescriptorSet, version: str) -> dict[str, Any]:
    return Document(Protos(descriptors), version).render()


def render_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    descriptors = descriptor_pb2.FileDescriptorSet.FromString(CONTRACT_SET.read_bytes())
    version = (ROOT / "VERSION").read_text().strip()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render_json(generate(descriptors, version)))
    print(f"generated {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
