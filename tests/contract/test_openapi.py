"""The OpenAPI document the build writes (tools/gen_openapi.py -> build/openapi/openapi.json), checked
against its sources: the protos' http rules (read from the generated *_pb2 modules, not from the
generator's input), the gateway's public routes (gateway/envoy.yaml.in), the statuses the services
set (their entrypoints' source) and the domain's limits. No stack: these read the build output."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from taskmanager.activity.v1 import activity_pb2
from taskmanager.auth.v1 import auth_pb2
from taskmanager.files.v1 import files_pb2
from taskmanager.notify.v1 import notify_pb2
from taskmanager.ops.v1 import ops_pb2
from taskmanager.tasks.v1 import tasks_pb2

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "build" / "openapi" / "openapi.json"
PROTO_MODULES = (auth_pb2, ops_pb2, tasks_pb2, files_pb2, activity_pb2, notify_pb2)
ERROR_CODES = {"400", "401", "403", "404", "409", "413", "429", "default"}
STATUS_REF = "#/components/schemas/Status"
TRIMMED = "x-trimmedMaxLength"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_openapi", ROOT / "tools" / "gen_openapi.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    assert DOCUMENT.exists(), "build/openapi/openapi.json is missing: run `make protos`"
    return json.loads(DOCUMENT.read_text())


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(verb, path): op for path, ops in document["paths"].items() for verb, op in ops.items()}


def rpc_of(operation: dict[str, Any]) -> str:
    return operation["operationId"].split("_")[0]


def http_rules() -> dict[tuple[str, str], tuple[str, str, http_pb2.HttpRule]]:
    """(verb, path) -> (service, rpc, binding) of every http rule in the generated modules."""
    rules = {}
    for module in PROTO_MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if not options.HasExtension(annotations_pb2.http):
                    continue
                rule = options.Extensions[annotations_pb2.http]
                for binding in [rule, *rule.additional_bindings]:
                    verb = binding.WhichOneof("pattern")
                    rules[(verb, getattr(binding, verb))] = (service.name, method.name, binding)
    return rules


def resolve(document: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        *_, section, name = item["$ref"].split("/")
        item = document["components"][section][name]
    return item


def json_schema(response: dict[str, Any]) -> dict[str, Any]:
    return response["content"]["application/json"]["schema"]


# -- the document as a whole ---------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(document) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_a_broken_document_does_not_validate(document) -> None:
    broken = json.loads(json.dumps(document))
    broken["paths"]["/tasks"]["get"]["responses"]["200"] = {"content": {}}  # no description
    with pytest.raises(Exception, match="description"):
        validate(broken, cls=OpenAPIV31SpecValidator)


def test_regenerating_gives_the_same_file(generator) -> None:
    contract = descriptor_pb2.FileDescriptorSet.FromString(generator.CONTRACT_SET.read_bytes())
    version = (ROOT / "VERSION").read_text().strip()
    first = generator.render_json(generator.generate(contract, version))
    assert first == generator.render_json(generator.generate(contract, version))
    assert first == DOCUMENT.read_text(), "build/openapi/openapi.json is stale: run `make protos`"


def test_the_version_is_the_projects(document) -> None:
    assert document["info"]["version"] == (ROOT / "VERSION").read_text().strip()


# -- routes -------------------------------------------------------------------------------------


def test_every_http_rule_is_an_operation_and_nothing_else(document) -> None:
    rules = http_rules()
    documented = operations(document)
    assert set(documented) == set(rules)
    for route, (service, rpc, _) in rules.items():
        operation = documented[route]
        assert rpc_of(operation) == rpc, route
        assert operation["tags"] == [service], route
    ids = [op["operationId"] for op in documented.values()]
    assert len(ids) == len(set(ids))
    assert documented[("patch", "/tasks/{task_id}/comments/{comment_id}")]["operationId"] == "UpdateComment"
    assert documented[("patch", "/comments/{comment_id}")]["operationId"] == "UpdateComment_1"


def test_internal_services_are_left_out(document) -> None:
    rpcs = {rpc_of(op) for op in operations(document).values()}
    for internal in (
        "CheckAccess",
        "GetUser",
        "BatchGetUsers",
        "CheckDependencies",
        "UploadFile",
        "DownloadFile",
    ):
        assert internal not in rpcs
    assert {tag["name"] for tag in document["tags"]} == {
        "AuthService", "OpsService", "TasksService", "SharingService", "CommentsService",
        "FilesService", "ActivityService", "NotifyService",
    }  # fmt: skip


def test_path_parameters_are_typed_and_required(document) -> None:
    for (_, path), operation in operations(document).items():
        in_path = [p for p in operation.get("parameters", []) if p["in"] == "path"]
        assert [p["name"] for p in in_path] == re.findall(r"\{(\w+)\}", path), path
        for parameter in in_path:
            assert parameter["required"] is True
            assert parameter["schema"]["type"] in ("integer", "string"), (path, parameter)
    task = operations(document)[("get", "/tasks/{id}")]["parameters"][0]
    assert task["schema"] == {"type": "integer", "format": "int32"}


def test_list_tasks_query_parameters_are_the_requests_fields(document) -> None:
    parameters = operations(document)[("get", "/tasks")]["parameters"]
    fields = tasks_pb2.ListTasksRequest.DESCRIPTOR.fields
    assert [p["name"] for p in parameters] == [f.name for f in fields]
    assert {p["in"] for p in parameters} == {"query"}
    by_name = {p["name"]: p for p in parameters}
    assert by_name["tags"]["schema"]["type"] == "array"
    assert by_name["tags"]["explode"] is True
    assert by_name["completed"]["schema"]["type"] == "boolean"
    assert by_name["limit"]["schema"]["type"] == "integer"


def test_routes_with_a_body_take_none_in_the_query(document) -> None:
    assert "parameters" not in operations(document)[("post", "/tasks")]
    share = operations(document)[("post", "/tasks/{task_id}/share")]
    assert [p["in"] for p in share["parameters"]] == ["path"]
    body = json_schema(share["requestBody"])
    assert "task_id" not in body["properties"]  # the path sets it


# -- auth ---------------------------------------------------------------------------------------


def envoy_public_paths() -> set[str]:
    """The paths gateway/envoy.yaml.in's jwt_authn rules match without `requires`."""
    text = (ROOT / "gateway" / "envoy.yaml.in").read_text()
    rules = text.split("envoy.filters.http.jwt_authn", 1)[1].split("rules:", 1)[1]
    rules = rules.split("- name: envoy.filters.http", 1)[0]
    public = set()
    entries = re.split(r"\n\s*- match: ", rules)[1:]
    for entry in entries:
        match = re.match(r"\{path: ([^,}\s]+)", entry)
        if match and "requires:" not in entry:
            public.add(match.group(1).strip())
    return public


def test_public_routes_are_the_ones_envoy_leaves_public(document) -> None:
    public = envoy_public_paths()
    assert {"/auth/login", "/auth/register", "/health"} <= public
    assert document["security"] == [{"bearer": []}]
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    documented_public = set()
    for (verb, path), operation in operations(document).items():
        if path in public:
            documented_public.add(path)
            assert operation["security"] == [], (verb, path)
            # 401 only for wrong credentials
            assert ("401" in operation["responses"]) == (path == "/auth/login"), (verb, path)
        else:
            assert "security" not in operation, (verb, path)  # the document's bearer
            assert "401" in operation["responses"], (verb, path)
    assert documented_public == {p for p in public if not p.startswith("/taskmanager.")} & set(
        document["paths"]
    )
    assert documented_public == {"/auth/register", "/auth/login", "/auth/jwks", "/health", "/version"}


# -- statuses -----------------------------------------------------------------------------------


def statuses_the_services_set() -> dict[str, int]:
    """RPC -> 201/204 for every servicer method of services/*/entrypoints that calls created() or
    no_content() (tm_common.http)."""
    found: dict[str, int] = {}
    for path in sorted(ROOT.glob("services/*/tm_*/entrypoints/*.py")):
        for cls in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)):
            for method in cls.body:
                if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(method):
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                        code = {"created": 201, "no_content": 204}.get(node.func.id)
                        if code:
                            found[method.name] = code
    return found


def test_201_and_204_where_the_services_answer_them(document, generator) -> None:
    expected = statuses_the_services_set()
    assert expected["CreateTask"] == 201 and expected["DeleteTask"] == 204  # the scan finds them
    assert expected == generator.SUCCESS_STATUS
    for (verb, path), operation in operations(document).items():
        code = str(expected.get(rpc_of(operation), 200))
        successes = [c for c in operation["responses"] if c.startswith("2")]
        assert successes == [code], (verb, path, successes)
        response = operation["responses"][code]
        assert ("content" in response) == (code != "204"), (verb, path)


def test_health_documents_503_with_its_own_shape(document) -> None:
    responses = operations(document)[("get", "/health")]["responses"]
    assert json_schema(responses["503"]) == json_schema(responses["200"])
    assert json_schema(responses["200"]) == {"$ref": "#/components/schemas/GetHealthResponse"}


def test_every_error_response_is_a_google_rpc_status(document) -> None:
    status = document["components"]["schemas"]["Status"]
    assert set(status["properties"]) == {"code", "message", "details"}
    assert status["properties"]["details"]["type"] == "array"
    for (verb, path), operation in operations(document).items():
        responses = operation["responses"]
        assert {"400", "429", "default"} <= set(responses), (verb, path)
        if "requestBody" in operation:
            assert "413" in responses, (verb, path)
        for code, response in responses.items():
            if code == "default" or (code >= "400" and code != "503"):
                assert code in ERROR_CODES, (verb, path, code)
                assert json_schema(resolve(document, response)) == {"$ref": STATUS_REF}, (verb, path, code)
    assert "409" in operations(document)[("post", "/auth/register")]["responses"]
    assert "409" in operations(document)[("post", "/tasks/{task_id}/share")]["responses"]
    assert "403" in operations(document)[("delete", "/tasks/{id}")]["responses"]
    assert "404" in operations(document)[("get", "/tasks/{id}")]["responses"]
    assert "403" not in operations(document)[("get", "/tasks/{id}")]["responses"]


# -- shapes -------------------------------------------------------------------------------------


def test_shapes_are_what_the_gateway_prints(document) -> None:
    schemas = document["components"]["schemas"]
    task = schemas["Task"]
    assert set(task["properties"]) == {f.name for f in tasks_pb2.Task.DESCRIPTOR.fields}  # snake_case
    # always_print_primitive_fields: scalars and lists always there; optional fields and messages not.
    assert set(task["required"]) == {"id", "title", "completed", "priority", "tags", "user_id"}
    assert task["properties"]["id"]["type"] == "integer"
    assert task["properties"]["created_at"]["format"] == "date-time"
    assert schemas["ActivityEntry"]["properties"]["details"]["type"] == "object"  # a Struct
    assert (
        schemas["GetTaskStatsResponse"]["properties"]["by_tag"]["additionalProperties"]["type"] == "integer"
    )
    assert schemas["TaskWithComments"]["properties"]["comments"]["items"] == {
        "$ref": "#/components/schemas/Comment"
    }


def test_body_and_response_body_rules_are_honoured(document) -> None:
    ops = operations(document)
    tags = json_schema(ops[("post", "/tasks/{id}/tags")]["requestBody"])
    assert tags["type"] == "array" and tags["items"]["type"] == "string"
    comments = json_schema(ops[("get", "/tasks/{task_id}/comments")]["responses"]["200"])
    assert comments == {"type": "array", "items": {"$ref": "#/components/schemas/Comment"}}
    bulk = json_schema(ops[("patch", "/tasks/bulk")]["responses"]["200"])
    assert bulk["items"] == {"$ref": "#/components/schemas/Task"}
    patch = json_schema(ops[("patch", "/tasks/{id}")]["requestBody"])
    assert patch == {"$ref": "#/components/schemas/TaskPatch"}
    listed = json_schema(ops[("get", "/tasks")]["responses"]["200"])
    assert listed == {"$ref": "#/components/schemas/ListTasksResponse"}


def test_uploads_are_multipart_or_raw_and_downloads_are_bytes(document) -> None:
    ops = operations(document)
    upload = ops[("post", "/tasks/{task_id}/files")]
    content = upload["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert content["application/octet-stream"]["schema"]["format"] == "binary"
    assert "filename" in [p["name"] for p in upload["parameters"] if p["in"] == "query"]
    download = ops[("get", "/files/{id}")]["responses"]["200"]
    assert set(download["content"]) == {"application/octet-stream", "*/*"}
    assert "Content-Disposition" in download["headers"]


def test_descriptions_come_from_the_proto_comments(document) -> None:
    ops = operations(document)
    assert ops[("post", "/tasks")]["description"] == "201 with the new task."
    assert document["components"]["schemas"]["Task"]["properties"]["user_id"]["description"] == "The owner."
    tags = {tag["name"]: tag.get("description", "") for tag in document["tags"]}
    assert tags["TasksService"].startswith("The caller's tasks")
    limit = next(p for p in ops[("get", "/tasks")]["parameters"] if p["name"] == "skip")
    assert "Offset paging" in limit["description"]


def test_enums_and_limits_are_the_domains(document) -> None:
    from tm_activity.domain import queries
    from tm_auth.domain import accounts
    from tm_common.limits import MAX_USERNAME
    from tm_tasks.domain import comments, listing, rules

    schemas = document["components"]["schemas"]
    query = {p["name"]: p["schema"] for p in operations(document)[("get", "/tasks")]["parameters"]}
    assert query["priority"]["enum"] == list(rules.PRIORITIES)
    assert query["sort_by"]["enum"] == list(listing.SORTABLE)
    assert (query["limit"]["minimum"], query["limit"]["maximum"]) == (1, listing.MAX_LIMIT)
    assert query["skip"]["maximum"] == listing.MAX_SKIP
    assert query["search"]["maxLength"] == listing.MAX_SEARCH
    create = schemas["CreateTaskRequest"]["properties"]
    assert create["title"][TRIMMED] == rules.MAX_TITLE
    assert create["description"]["maxLength"] == rules.MAX_DESCRIPTION
    assert create["tags"]["maxItems"] == rules.MAX_TAGS and create["tags"]["items"][TRIMMED] == rules.MAX_TAG
    assert create["priority"]["enum"] == [*rules.PRIORITIES, None]  # may be null: "medium"
    assert schemas["Comment"]["properties"]["content"]["maxLength"] == comments.MAX_CONTENT
    register = schemas["RegisterRequest"]["properties"]
    assert (register["username"]["minLength"], register["username"][TRIMMED]) == (3, MAX_USERNAME)
    password = (register["password"]["minLength"], register["password"]["maxLength"])
    assert password == (accounts.MIN_PASSWORD, accounts.MAX_PASSWORD)
    activity = {p["name"]: p["schema"] for p in operations(document)[("get", "/activity")]["parameters"]}
    assert activity["limit"]["maximum"] == queries.MAX_LIMIT
    assert activity["offset"]["maximum"] == queries.MAX_OFFSET
    assert schemas["Share"]["properties"]["permission"]["enum"] == ["view", "edit"]
    from tm_files.service import files
    from tm_tasks.service import comments as comment_use_cases
    from tm_tasks.service import sharing

    # Found by schemathesis (positive data): page_size -1 was documented as valid on these lists.
    for path, limit in [
        ("/tasks/shared-with-me", sharing.MAX_PAGE),
        ("/tasks/{task_id}/comments", comment_use_cases.MAX_PAGE),
        ("/tasks/{task_id}/files", files.MAX_PAGE),
        ("/activity/tasks/{task_id}", queries.MAX_TIMELINE_PAGE),
    ]:
        query = {p["name"]: p["schema"] for p in operations(document)[("get", path)]["parameters"]}
        assert (query["page_size"]["minimum"], query["page_size"]["maximum"]) == (0, limit), path


def test_a_json_body_may_be_left_out_where_the_transcoder_takes_it_as_empty(document) -> None:
    # Found by schemathesis: PATCH /notifications/preferences without a body answered 200, as `{}`
    # does; the document said the body was required. A bare-list body is refused when missing.
    for (verb, path), operation in operations(document).items():
        body = operation.get("requestBody")
        if body is None:
            continue
        rule = http_rules()[(verb, path)][2]
        assert body["required"] is (rule.body != "*"), (verb, path)
    assert operations(document)[("post", "/tasks/{id}/tags")]["requestBody"]["required"] is True


def test_request_lists_may_be_null_as_the_gateway_takes_them(document) -> None:
    # Found by schemathesis: POST /tasks with "tags": null was a 201 (null is a list's default,
    # gateway/lua/json_types.lua); the document allowed only an array. Answers always print lists.
    schemas = document["components"]["schemas"]
    assert schemas["CreateTaskRequest"]["properties"]["tags"]["type"] == ["array", "null"]
    assert schemas["BulkUpdateTasksRequest"]["properties"]["task_ids"]["type"] == ["array", "null"]
    assert schemas["Task"]["properties"]["tags"]["type"] == "array"
    tags = operations(document)[("post", "/tasks/{id}/tags")]["requestBody"]
    assert json_schema(tags)["type"] == "array"  # a bare list body must be a list
    query = {p["name"]: p["schema"] for p in operations(document)[("get", "/tasks")]["parameters"]}
    assert query["tags"]["type"] == "array"


def test_limits_checked_after_trimming_are_no_max_length(document) -> None:
    # Found by schemathesis: a tag of 51 characters whose first is "\x1f" was a 201 (the service
    # trims, then counts 50), against the document's maxLength of 50. Titles, tags and usernames
    # are counted once trimmed (tests/e2e/test_tasks_http.py takes 200 characters between spaces),
    # so no maxLength can bound what is sent: the limit is x-trimmedMaxLength and the description.
    schemas = document["components"]["schemas"]
    trimmed = [
        schemas["CreateTaskRequest"]["properties"]["title"],
        schemas["TaskPatch"]["properties"]["title"],
        schemas["CreateTaskRequest"]["properties"]["tags"]["items"],
        schemas["TaskPatch"]["properties"]["tags"]["items"],
        json_schema(operations(document)[("post", "/tasks/{id}/tags")]["requestBody"])["items"],
        schemas["RegisterRequest"]["properties"]["username"],
    ]
    for schema in trimmed:
        assert "maxLength" not in schema and schema[TRIMMED] in (200, 50), schema
        assert "trim" in schema["description"], schema
    # Counted as sent: these keep their maxLength.
    assert schemas["CreateTaskRequest"]["properties"]["description"]["maxLength"] == 1000
    comment = json_schema(operations(document)[("post", "/tasks/{task_id}/comments")]["requestBody"])
    assert comment["properties"]["content"]["maxLength"] == 1000


# -- links --------------------------------------------------------------------------------------


def links_of(document: dict[str, Any], verb: str, path: str) -> dict[str, dict[str, str]]:
    links = operations(document)[(verb, path)]["responses"]["201"].get("links", {})
    return {name: link["parameters"] for name, link in links.items()}


def test_a_created_task_links_to_the_operations_on_it(document) -> None:
    links = links_of(document, "post", "/tasks")
    by_id = {"path.id": "$response.body#/id"}
    assert links["GetTask"] == links["UpdateTask"] == links["DeleteTask"] == by_id
    by_task = {"path.task_id": "$response.body#/id"}
    for name in ("ShareTask", "CreateComment", "ListComments", "CreateFile", "ListFiles", "GetTaskTimeline"):
        assert links[name] == by_task, name
    assert links["RemoveTaskTag"] == by_id  # {tag} is left to the client
    assert not {"GetFileContent", "UpdateComment_1", "GetMe"} & set(links)  # other resources' ids


def test_created_comments_shares_and_files_link_to_their_own_operations(document) -> None:
    comment = links_of(document, "post", "/tasks/{task_id}/comments")
    assert comment["UpdateComment"] == {
        "path.task_id": "$response.body#/task_id",
        "path.comment_id": "$response.body#/id",
    }
    assert comment["DeleteComment_1"] == {"path.comment_id": "$response.body#/id"}
    assert comment["GetTask"] == {"path.id": "$response.body#/task_id"}
    share = links_of(document, "post", "/tasks/{task_id}/share")
    assert share["UnshareTask"] == {
        "path.task_id": "$response.body#/task_id",
        "path.username": "$response.body#/shared_with_username",
    }
    file = links_of(document, "post", "/tasks/{task_id}/files")
    assert file["GetFileContent"] == file["DeleteFile"] == {"path.id": "$response.body#/id"}
    assert links_of(document, "post", "/auth/register") == {}  # a user: no path takes its id


def test_every_link_names_an_operation_and_its_path_variables(document) -> None:
    by_id = {op["operationId"]: path for (_, path), op in operations(document).items()}
    for (verb, path), operation in operations(document).items():
        for name, link in operation["responses"].get("201", {}).get("links", {}).items():
            assert link["operationId"] == name and name in by_id, (verb, path, name)
            variables = {f"path.{v}" for v in re.findall(r"\{(\w+)\}", by_id[name])}
            assert set(link["parameters"]) <= variables, (verb, path, name)
            assert link["parameters"], (verb, path, name)


def test_link_values_come_from_the_resource_or_what_it_references(generator) -> None:
    fields = ["id", "task_id", "shared_with_username", "user_id"]
    assert generator.link_value("id", "/tasks/{id}", "Task", fields) == "$response.body#/id"
    assert generator.link_value("id", "/tasks/{id}", "Share", fields) == "$response.body#/task_id"
    assert generator.link_value("task_id", "/x/{task_id}", "Task", fields) == "$response.body#/id"
    assert generator.link_value("id", "/files/{id}", "Task", fields) is None
    assert generator.link_value("username", "/s/{username}", "Share", fields) == (
        "$response.body#/shared_with_username"
    )
    assert generator.link_value("tag", "/t/{tag}", "Task", fields) is None


# -- pure helpers -------------------------------------------------------------------------------


def test_clean_comment_drops_the_leading_space_and_keeps_lines(generator) -> None:
    assert generator.clean_comment(" One.\n Two:\n * three\n") == "One.\nTwo:\n* three"
    assert generator.clean_comment("") == ""


def test_template_variables_in_order(generator) -> None:
    assert generator.template_variables("/tasks/{task_id}/comments/{comment_id}") == ["task_id", "comment_id"]
    assert generator.template_variables("/tasks") == []


def test_http_bindings_include_additional_ones_and_refuse_custom_verbs(generator) -> None:
    rule = http_pb2.HttpRule(patch="/a/{id}", body="*")
    rule.additional_bindings.add(patch="/b/{id}", body="*")
    assert [(verb, path) for verb, path, _ in generator.http_bindings(rule)] == [
        ("patch", "/a/{id}"),
        ("patch", "/b/{id}"),
    ]
    custom = http_pb2.HttpRule(custom=http_pb2.CustomHttpPattern(kind="HEAD", path="/a"))
    with pytest.raises(ValueError):
        list(generator.http_bindings(custom))


def test_not_null_leaves_what_a_query_or_bare_body_can_hold(generator) -> None:
    nullable = {"type": ["string", "null"], "enum": ["a", None], "description": "d"}
    assert generator.not_null(nullable) == {"type": "string", "enum": ["a"], "description": "d"}
    ref = {"oneOf": [{"$ref": "#/x"}, {"type": "null"}], "description": "d"}
    assert generator.not_null(ref) == {"$ref": "#/x", "description": "d"}
    assert generator.not_null({"type": "integer"}) == {"type": "integer"}
