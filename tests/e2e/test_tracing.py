"""One request is one trace: from the gateway through the services and Postgres, across the event
stream, to the audit row and the email; and the log lines name it."""

from __future__ import annotations

import json

from support.accounts import new_account
from support.files import files_path
from support.notify import verified_account
from support.polling import wait_until
from support.spans import CLIENT, CONSUMER, PRODUCER, SERVER, Span, new_traceparent, spans_of_trace

CREATE_TASK = "/taskmanager.tasks.v1.TasksService/CreateTask"
GET_TASK = "/taskmanager.tasks.v1.TasksService/GetTask"
TRACE_TIMEOUT = 40.0  # Envoy and the services export every few seconds


def _by_id(spans: list[Span]) -> dict[str, Span]:
    return {span.span_id: span for span in spans}


def _ancestors(span: Span, spans: dict[str, Span]) -> list[Span]:
    chain = []
    while span.parent_id in spans:
        span = spans[span.parent_id]
        chain.append(span)
    return chain


def _sql(spans: list[Span], service: str, statement: str) -> list[Span]:
    return [
        span
        for span in spans
        if span.service == service
        and span.kind == CLIENT
        and span.attributes.get("db.system") == "postgresql"
        and statement in str(span.attributes.get("db.statement", "")).upper()
    ]


def test_a_task_written_through_the_gateway_is_one_trace_down_to_the_audit_row(http, account, stack) -> None:
    traceparent, trace_id = new_traceparent()
    headers = {**account.headers, "traceparent": traceparent}
    created = http.post("/tasks", json={"title": "traced"}, headers=headers)
    assert created.status_code == 201, created.text

    def complete() -> list[Span]:
        spans = spans_of_trace(stack, trace_id)
        done = _sql(spans, "activity", "INSERT") and any(s.kind == PRODUCER for s in spans)
        done = done and any(s.service == "gateway" for s in spans)  # Envoy exports every 5 s
        return spans if done else []

    spans = wait_until(complete, "the trace down to the activity row", timeout=TRACE_TIMEOUT, every=0.5)
    by_id = _by_id(spans)
    client_span_id = traceparent.split("-")[2]

    gateway = [s for s in spans if s.service == "gateway"]
    assert gateway, sorted({s.service for s in spans})
    assert any(s.parent_id == client_span_id for s in gateway)  # Envoy joined the client's trace

    (create,) = [s for s in spans if s.service == "tasks" and s.name == CREATE_TASK]
    assert create.kind == SERVER
    assert {a.service for a in _ancestors(create, by_id)} == {"gateway"}

    insert = _sql(spans, "tasks", "INSERT INTO TASKS")
    assert insert and all(create in _ancestors(s, by_id) for s in insert)

    (publish,) = [s for s in spans if s.kind == PRODUCER]
    assert publish.service == "tasks" and publish.attributes["tm.event.type"] == "task.created"
    assert create in _ancestors(publish, by_id)  # the relay's span joins the request that wrote the row

    consumed = [s for s in spans if s.service == "activity" and s.kind == CONSUMER]
    assert consumed, [(s.service, s.name) for s in spans]
    audit_rows = _sql(spans, "activity", "INSERT")
    consumer_ids = {s.span_id for s in consumed}
    assert any(consumer_ids & {a.span_id for a in _ancestors(row, by_id)} for row in audit_rows)
    for span in spans:  # nothing of the trace hangs loose: every span leads back to the client's
        assert span.parent_id == client_span_id or span.parent_id in by_id, span


def test_a_share_is_one_trace_down_to_the_email_it_sends(http, account, stack) -> None:
    friend = verified_account(http, stack)
    task = http.post("/tasks", json={"title": "shared and traced"}, headers=account.headers)
    assert task.status_code == 201, task.text
    traceparent, trace_id = new_traceparent()
    headers = {**account.headers, "traceparent": traceparent}
    body = {"shared_with_username": friend.username, "permission": "view"}
    shared = http.post(f"/tasks/{task.json()['id']}/share", json=body, headers=headers)
    assert shared.status_code == 201, shared.text

    def emailed() -> list[Span]:  # ... and every span from it back to the gateway exported
        spans = spans_of_trace(stack, trace_id)
        mails = _sql(spans, "notify", "INSERT INTO MAIL_LOG")
        chain = _ancestors(mails[0], _by_id(spans)) if mails else []
        return spans if chain and chain[-1].service == "gateway" else []

    spans = wait_until(emailed, "the email's span in the share's trace", timeout=TRACE_TIMEOUT, every=0.5)
    by_id = _by_id(spans)
    (mail,) = _sql(spans, "notify", "INSERT INTO MAIL_LOG")
    chain = _ancestors(mail, by_id)
    names = [(span.service, span.name) for span in chain]
    assert names[0] == ("notify", "notify send"), names
    assert ("notify", "notify process") in names  # the event queued it, in the request's trace
    assert ("tasks", "/taskmanager.tasks.v1.SharingService/ShareTask") in names
    assert chain[-1].parent_id == traceparent.split("-")[2]  # the client's span


def test_a_call_from_one_service_to_another_stays_in_the_trace(http, account, stack) -> None:
    task = http.post("/tasks", json={"title": "with a file"}, headers=account.headers)
    assert task.status_code == 201, task.text
    traceparent, trace_id = new_traceparent()
    headers = {**account.headers, "traceparent": traceparent}
    files = {"file": ("notes.txt", b"hello", "text/plain")}
    uploaded = http.post(files_path(task.json()["id"]), files=files, headers=headers)
    assert uploaded.status_code == 201, uploaded.text

    def reached_tasks() -> list[Span]:
        spans = spans_of_trace(stack, trace_id)
        by_id = _by_id(spans)
        called = [s for s in spans if s.service == "tasks" and s.kind == SERVER]
        return spans if called and called[0].parent_id in by_id else []  # the caller's too

    spans = wait_until(reached_tasks, "the tasks service's span in the upload's trace", timeout=TRACE_TIMEOUT)
    by_id = _by_id(spans)
    (called,) = [s for s in spans if s.service == "tasks" and s.kind == SERVER]
    caller = by_id[called.parent_id]
    assert caller.service == "files" and caller.kind == CLIENT  # files' client span, then its RPC
    assert by_id[caller.parent_id].service == "files"


def test_a_log_line_names_the_trace_and_span_of_its_request(http, account, stack) -> None:
    traceparent, trace_id = new_traceparent()
    missing = http.get("/tasks/999999999", headers={**account.headers, "traceparent": traceparent})
    assert missing.status_code == 404, missing.text
    request_id = missing.headers["x-request-id"]

    def logged() -> dict | None:
        for line in (stack.log_dir / "tasks.log").read_text().splitlines():
            if request_id in line and line.startswith("{"):
                entry = json.loads(line)
                if entry.get("request_id") == request_id and entry.get("msg") == "rpc":
                    return entry
        return None

    entry = wait_until(logged, "the access log line of the 404")
    assert entry["trace_id"] == trace_id
    spans = wait_until(
        lambda: [s for s in spans_of_trace(stack, trace_id) if s.service == "tasks" and s.name == GET_TASK],
        "the GetTask span",
        timeout=TRACE_TIMEOUT,
    )
    assert entry["span_id"] == spans[0].span_id


def test_a_request_the_client_did_not_sample_leaves_no_spans(http, stack) -> None:
    account = new_account(http)
    unsampled, unsampled_trace = new_traceparent(sampled=False)
    sampled, sampled_trace = new_traceparent()
    for traceparent in (unsampled, sampled):
        headers = {**account.headers, "traceparent": traceparent}
        assert http.post("/tasks", json={"title": "x"}, headers=headers).status_code == 201
    # Both went the same way: once the second's relay span is out, the first's would be too.
    wait_until(
        lambda: any(s.kind == PRODUCER for s in spans_of_trace(stack, sampled_trace)),
        "the sampled request's spans",
        timeout=TRACE_TIMEOUT,
    )
    assert [s for s in spans_of_trace(stack, unsampled_trace) if s.service != "gateway"] == []
