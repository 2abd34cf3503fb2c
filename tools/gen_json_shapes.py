"""Generate the gateway's table of JSON body shapes from the descriptor set (after gen_protos.py).

    python tools/gen_json_shapes.py      # build/descriptors/taskmanager.pb -> build/gateway/json_shapes.lua

For every route Envoy transcodes (the google.api.http rules of gateway.TRANSCODED_SERVICES) the
table says what its request may carry: `b`, what its JSON body must look like (the request
message's fields by JSON and proto name, each with its kind: bool, string, int32, ..., message,
map, list of them), or `false` when it takes no JSON body (none, or raw bytes: google.api.HttpBody);
`p`, the kind of each path variable by segment; `q`, the query parameters it takes (the request's
scalar fields bound neither by the path nor by the body). gateway/lua/json_types.lua checks
requests against it before the transcoder, which would otherwise coerce wrong types ("yes" for a
bool, a scalar for a list, "05" for 5), and would let a query parameter or a body member set a
field the path already set (GET /tasks/1?id=2 read task 2). Built by `make protos` and by
gateway/Dockerfile.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTOR_SET = ROOT / "build" / "descriptors" / "taskmanager.pb"
OUT = ROOT / "build" / "gateway" / "json_shapes.lua"
sys.path.insert(0, str(ROOT / "libs" / "devstack"))
from tm_devstack.gateway import TRANSCODED_SERVICES  # noqa: E402

Field = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    Field.TYPE_BOOL: "bool",
    Field.TYPE_STRING: "string",
    Field.TYPE_BYTES: "bytes",
    Field.TYPE_DOUBLE: "float",
    Field.TYPE_FLOAT: "float",
    **dict.fromkeys((Field.TYPE_INT32, Field.TYPE_SINT32, Field.TYPE_SFIXED32), "int32"),
    **dict.fromkeys((Field.TYPE_UINT32, Field.TYPE_FIXED32), "uint32"),
    **dict.fromkeys((Field.TYPE_INT64, Field.TYPE_SINT64, Field.TYPE_SFIXED64), "int64"),
    **dict.fromkeys((Field.TYPE_UINT64, Field.TYPE_FIXED64), "uint64"),
    Field.TYPE_ENUM: "enum",
}
# Well-known types have their own JSON forms (proto3 JSON mapping).
WELL_KNOWN = {
    ".google.protobuf.Value": "value",
    ".google.protobuf.Struct": "struct",
    ".google.protobuf.ListValue": "listvalue",
    ".google.protobuf.Any": "any",
    ".google.protobuf.Timestamp": "string",
    ".google.protobuf.Duration": "string",
    ".google.protobuf.FieldMask": "string",
    ".google.protobuf.BoolValue": "bool",
    ".google.protobuf.StringValue": "string",
    ".google.protobuf.BytesValue": "bytes",
    ".google.protobuf.DoubleValue": "float",
    ".google.protobuf.FloatValue": "float",
    ".google.protobuf.Int32Value": "int32",
    ".google.protobuf.UInt32Value": "uint32",
    ".google.protobuf.Int64Value": "int64",
    ".google.protobuf.UInt64Value": "uint64",
}
HTTP_BODY = ".google.api.HttpBody"
VERBS = ("get", "put", "post", "delete", "patch")
# Request bodies whose unknown members are refused (by default they are ignored, as the transcoder
# ignores them): a PATCH of preferences that names only email_verified or a typo would otherwise be
# an empty patch, which is a no-op that answers 200.
CLOSED_BODIES = {".taskmanager.notify.v1.UpdatePreferencesRequest": "is not a preference that can be set"}


class Shapes:
    """The messages of a descriptor set, and Lua literals of the shapes of their JSON forms."""

    def __init__(self, descriptors: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.methods: dict[str, list[descriptor_pb2.MethodDescriptorProto]] = {}
        for file in descriptors.file:
            prefix = f".{file.package}" if file.package else ""
            self._add_messages(prefix, file.message_type)
            for service in file.service:
                self.methods[f"{file.package}.{service.name}"] = list(service.method)
        self.used: dict[str, str] = {}  # message name -> its Lua table of fields

    def _add_messages(self, prefix: str, messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
        for message in messages:
            name = f"{prefix}.{message.name}"
            self.messages[name] = message
            self._add_messages(name, message.nested_type)

    def field(self, field: descriptor_pb2.FieldDescriptorProto, name: str | None = None) -> str:
        """The Lua spec of one field: {n = name in error paths, k = kind, r = repeated, m = message,
        mk/v = a map's key kind and value spec}."""
        parts = [f"n = {lua_string(field.name if name is None else name)}"]
        entry = self._map_entry(field)
        if entry is not None:
            key, value = entry.field
            parts += ['k = "map"', f"mk = {lua_string(SCALARS.get(key.type, 'string'))}"]
            parts.append(f"v = {{{', '.join(self._kind(value))}}}")
        else:
            parts += self._kind(field)
            if field.label == Field.LABEL_REPEATED:
                parts.append("r = true")
            elif field.type != Field.TYPE_MESSAGE and not field.proto3_optional:
                parts.append("nn = true")  # no presence: null would be read as "" or 0 or false
        return "{" + ", ".join(parts) + "}"

    def _kind(self, field: descriptor_pb2.FieldDescriptorProto) -> list[str]:
        if field.type not in (Field.TYPE_MESSAGE, Field.TYPE_GROUP):
            return [f"k = {lua_string(SCALARS[field.type])}"]
        return self.message_kind(field.type_name)

    def message_kind(self, type_name: str) -> list[str]:
        if type_name in WELL_KNOWN:
            return [f"k = {lua_string(WELL_KNOWN[type_name])}"]
        self._use(type_name)
        return ['k = "message"', f"m = {lua_string(type_name[1:])}"]

    def _map_entry(self, field: descriptor_pb2.FieldDescriptorProto) -> descriptor_pb2.DescriptorProto | None:
        message = self.messages.get(field.type_name)
        return message if message is not None and message.options.map_entry else None

    def _use(self, type_name: str) -> None:
        if type_name[1:] in self.used:
            return
        self.used[type_name[1:]] = ""  # before recursing: messages may refer to themselves
        entries = []
        for field in self.messages[type_name].field:
            spec = self.field(field)
            names = dict.fromkeys([field.json_name or field.name, field.name])
            entries += [f"      [{lua_string(name)}] = {spec}," for name in names]
        self.used[type_name[1:]] = "{\n" + "\n".join(entries) + "\n    }" if entries else "{}"

    def body(self, method: descriptor_pb2.MethodDescriptorProto, body: str, bound: list[str]) -> str:
        """The Lua spec of a route's JSON body, or "false" when it has none or it is raw bytes.
        A message body has no name in error paths (its fields are named as they are); a list or
        scalar body is named after its field ("tags[0]"). `bound`: the fields the path sets, which a
        whole-message body must not set again (`pv`); `closed`: what an unknown member is."""
        if not body or method.input_type == HTTP_BODY:
            return "false"
        if body == "*":
            parts = ['n = ""', *self.message_kind(method.input_type)]
            names = [name for field in self._fields(method.input_type, bound) for name in self._names(field)]
            if names:
                parts.append("pv = {" + ", ".join(f"[{lua_string(n)}] = true" for n in names) + "}")
            if method.input_type in CLOSED_BODIES:
                parts.append(f"closed = {lua_string(CLOSED_BODIES[method.input_type])}")
        else:
            field = self._body_field(method.input_type, body)
            if field.type_name == HTTP_BODY and field.label != Field.LABEL_REPEATED:
                return "false"
            is_message = field.type == Field.TYPE_MESSAGE and field.label != Field.LABEL_REPEATED
            return self.field(field, "" if is_message else None)
        if method.client_streaming:  # the transcoder takes a JSON array of request messages
            parts.append("r = true")
        return "{" + ", ".join(parts) + "}"

    def path_variables(self, type_name: str, segments: list[str], variables: list[str]) -> str:
        """{[segment index] = spec} of a template's variables (1-based, as the Lua splits paths)."""
        stars = [index for index, segment in enumerate(segments, 1) if segment == "*"]
        specs = [self.field(self._body_field(type_name, name)) for name in variables]
        return "{" + ", ".join(f"[{index}] = {spec}" for index, spec in zip(stars, specs, strict=True)) + "}"

    def query(self, type_name: str, body: str, bound: list[str]) -> str:
        """{name = spec} of the query parameters a route takes, by JSON and proto name: the
        request's top-level scalar fields (or lists of them) that neither the path nor the body sets."""
        if body == "*":
            return "{}"
        entries = []
        for field in self.messages[type_name].field:
            if (
                field.name in bound
                or field.name == body
                or field.type in (Field.TYPE_MESSAGE, Field.TYPE_GROUP)
            ):
                continue
            entries += [f"[{lua_string(name)}] = {self.field(field)}" for name in self._names(field)]
        return "{" + ", ".join(entries) + "}"

    def _fields(self, type_name: str, names: list[str]) -> list[descriptor_pb2.FieldDescriptorProto]:
        return [f for f in self.messages[type_name].field if f.name in names]

    @staticmethod
    def _names(field: descriptor_pb2.FieldDescriptorProto) -> list[str]:
        return list(dict.fromkeys([field.json_name or field.name, field.name]))

    def _body_field(self, type_name: str, path: str) -> descriptor_pb2.FieldDescriptorProto:
        *parents, last = path.split(".")
        for name in parents:
            type_name = next(f for f in self.messages[type_name].field if f.name == name).type_name
        return next(f for f in self.messages[type_name].field if f.name == last)


def lua_string(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.@/ -]*", text):
        raise ValueError(f"unexpected characters in a name: {text!r}")
    return f'"{text}"'


def template_variables(template: str) -> list[str]:
    """The field names of a template's variables, in order."""
    return re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template)


def template_segments(template: str) -> list[str]:
    """Path template -> literal segments and "*" for a single-segment variable, as the transcoder's
    path matcher sees them. Other syntax ("**", "{x=a/*}", "{a.b}", custom verbs) is not used here:
    refused."""
    segments = []
    for part in template.lstrip("/").split("/"):
        if re.fullmatch(r"\{[A-Za-z_][A-Za-z0-9_]*\}", part):
            segments.append("*")
        elif re.fullmatch(r"[A-Za-z0-9_.~-]+", part):
            segments.append(part)
        else:
            raise ValueError(f"path template {template!r}: {part!r} is not supported by json_types.lua")
    return segments


def routes(shapes: Shapes) -> dict[str, Any]:
    """The path trie: {"lit": {segment: node}, "var": node, "methods": {VERB: body spec}}."""
    root: dict[str, Any] = {}
    for service in TRANSCODED_SERVICES:
        for method in shapes.methods[service]:
            if not method.options.HasExtension(annotations_pb2.http):
                continue
            rule = method.options.Extensions[annotations_pb2.http]
            for binding in [rule, *rule.additional_bindings]:
                verb = binding.WhichOneof("pattern")
                if verb not in VERBS:
                    raise ValueError(f"{service}/{method.name}: {verb} rules are not supported")
                node = root
                template = getattr(binding, verb)
                segments = template_segments(template)
                for segment in segments:
                    node = (
                        node.setdefault("var", {})
                        if segment == "*"
                        else node.setdefault("lit", {}).setdefault(segment, {})
                    )
                bound = template_variables(template)
                node.setdefault("methods", {})[verb.upper()] = (
                    f"{{b = {shapes.body(method, binding.body, bound)},"
                    f" p = {shapes.path_variables(method.input_type, segments, bound)},"
                    f" q = {shapes.query(method.input_type, binding.body, bound)}}}"
                )
    return root


def lua_node(node: dict[str, Any], indent: str) -> str:
    inner = indent + "  "
    lines = []
    if "methods" in node:
        methods = ", ".join(f"{verb} = {spec}" for verb, spec in sorted(node["methods"].items()))
        lines.append(f"{inner}methods = {{{methods}}},")
    if "lit" in node:
        children = [
            f"{inner}  [{lua_string(name)}] = {lua_node(child, inner + '  ')},"
            for name, child in sorted(node["lit"].items())
        ]
        lines.append(f"{inner}lit = {{\n" + "\n".join(children) + f"\n{inner}}},")
    if "var" in node:
        lines.append(f"{inner}var = {lua_node(node['var'], inner)},")
    return "{\n" + "\n".join(lines) + f"\n{indent}}}"


def render(descriptors: descriptor_pb2.FileDescriptorSet) -> str:
    shapes = Shapes(descriptors)
    trie = lua_node(routes(shapes), "  ")
    messages = "\n".join(
        f"    [{lua_string(name)}] = {fields}," for name, fields in sorted(shapes.used.items())
    )
    return (
        "-- GENERATED by tools/gen_json_shapes.py from the descriptor set (`make protos`): do not edit.\n"
        "-- The JSON body each transcoded route takes; json_types.lua checks requests against it.\n"
        "JSON_SHAPES = {\n"
        f"  messages = {{\n{messages}\n  }},\n"
        f"  routes = {trie},\n"
        "}\n"
    )


def main() -> None:
    descriptors = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render(descriptors))
    print(f"generated {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
