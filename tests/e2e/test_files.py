"""Task attachments through the gateway as JSON/HTTP: uploads (multipart and raw) and downloads
byte for byte, the limits and what a refused upload leaves behind (nothing: no row, no blob), names
made safe, permissions, the files' life with their task, and their events on `events:files`.

What is stored is checked where an operator would look: the files schema (as the files role) and
the stack's blob directory. Every test registers its own users and tasks."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.accounts import Account, log_in, new_user
from support.errors import assert_bad_request, assert_status_body
from support.files import (
    FILE_HEADS,
    MIB,
    blob_key,
    blob_names,
    blob_root,
    content_disposition_params,
    disposition_filename,
    download,
    file_bytes,
    file_events,
    files_path,
    files_sql,
    list_files,
    sha256,
    upload_multipart,
    upload_raw,
    uploaded_file,
)
from support.polling import wait_until
from support.sharing import share_task
from support.tasks import create_task
from support.tokens import tampered_token

LIMIT = 10 * MIB  # the stack runs with the default MAX_FILE_BYTES
MISSING_ID = 2_147_483_647
CONTENT_TYPES = {
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
UPLOADS = {"multipart": upload_multipart, "raw": upload_raw}


@pytest.fixture
def since() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)


@pytest.fixture
def task(http, account) -> dict[str, Any]:
    return create_task(http, account)


def upload(http, account: Account, task_id: int, data: bytes, name: str, mode: str, kind: str | None = None):
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return UPLOADS[mode](
        http, account, task_id, data, name, kind or CONTENT_TYPES.get(ext, "application/octet-stream")
    )


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_served(response, data: bytes, content_type: str, name: str) -> None:
    """A download: the exact bytes, the type the extension implies, a safe disposition."""
    assert response.status_code == 200, response.text[:300]
    assert len(response.content) == len(data)
    assert sha256(response.content) == sha256(data)
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert_safe_disposition(response, name)


def assert_safe_disposition(response, name: str) -> None:
    """Content-Disposition: attachment, an ASCII fallback with nothing to escape or inject, and the
    exact name in filename* (RFC 6266 / 8187)."""
    raw = [value for key, value in response.headers.raw if key.lower() == b"content-disposition"]
    assert len(raw) == 1, response.headers
    header = raw[0].decode("ascii")  # a header value is ASCII, whatever the name
    assert not re.search(r"[\x00-\x1f\x7f]", header), header
    kind, params = content_disposition_params(header)
    assert kind == "attachment", header
    assert set(params) == {"filename", "filename*"}, header
    assert re.fullmatch(r"[\x20-\x7e]+", params["filename"]) and not re.search(r'["\\]', params["filename"])
    assert disposition_filename(header) == name


# -- round trips -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["multipart", "raw"])
@pytest.mark.parametrize(
    ("name", "size"),
    [
        pytest.param("hello.txt", 12, id="tiny-txt"),
        pytest.param("pic.png", 2000, id="small-png"),
        pytest.param("scan.pdf", 9 * MIB + 7, id="9MiB-pdf"),
    ],
)
def test_an_upload_comes_back_byte_for_byte(
    http, account, task, stack, since, mode: str, name: str, size: int
):
    ext = "." + name.rsplit(".", 1)[1]
    data = file_bytes(ext, size)
    file = uploaded_file(upload(http, account, task["id"], data, name, mode))
    assert (file["task_id"], file["original_filename"], file["file_size"], file["content_type"]) == (
        task["id"],
        name,
        size,
        CONTENT_TYPES[ext],
    )
    assert since <= when(file["uploaded_at"]) <= datetime.now(UTC) + timedelta(seconds=1)
    assert list_files(http, account, task["id"]) == [file]
    assert_served(download(http, account, file["id"]), data, CONTENT_TYPES[ext], name)
    # On disk: the exact bytes under a generated key, never the user's name.
    key = blob_key(stack, file["id"])
    assert re.fullmatch(r"files/[0-9a-f]{32}", key), key
    assert sha256((blob_root(stack) / key).read_bytes()) == sha256(data)


@pytest.mark.parametrize("ext", sorted(CONTENT_TYPES))
def test_every_allowed_type_is_accepted_and_served_with_its_type(http, account, task, ext: str) -> None:
    data = file_bytes(ext, 4096)
    file = uploaded_file(upload_multipart(http, account, task["id"], data, f"file{ext.upper()}"))
    assert file["content_type"] == CONTENT_TYPES[ext]
    assert_served(download(http, account, file["id"]), data, CONTENT_TYPES[ext], f"file{ext.upper()}")


def test_exactly_the_limit_is_accepted(http, account, task) -> None:
    data = file_bytes(".pdf", LIMIT)
    file = uploaded_file(upload_raw(http, account, task["id"], data, "limit.pdf", "application/pdf"))
    assert file["file_size"] == LIMIT
    assert sha256(download(http, account, file["id"]).content) == sha256(data)


def test_files_are_listed_oldest_first_and_per_task(http, account, task) -> None:
    other = create_task(http, account)
    first = uploaded_file(upload_raw(http, account, task["id"], b"one", "1.txt", "text/plain"))
    elsewhere = uploaded_file(upload_raw(http, account, other["id"], b"two", "2.txt", "text/plain"))
    second = uploaded_file(upload_multipart(http, account, task["id"], b"three", "3.txt", "text/plain"))
    assert list_files(http, account, task["id"]) == [first, second]
    assert list_files(http, account, other["id"]) == [elsewhere]
    assert first["id"] < second["id"]


def test_the_stored_type_is_the_extensions_not_the_clients(http, account, task) -> None:
    """A generic declared type is no contradiction; the file is served as what its name says."""
    data = file_bytes(".png", 300)
    file = uploaded_file(upload_raw(http, account, task["id"], data, "pic.png", "application/octet-stream"))
    assert file["content_type"] == "image/png"
    assert download(http, account, file["id"]).headers["content-type"] == "image/png"


def test_the_query_filename_overrides_the_multipart_one(http, account, task) -> None:
    response = http.post(
        files_path(task["id"]),
        params={"filename": "chosen.txt"},
        files={"file": ("ignored.exe", b"text", "text/plain")},
        headers=account.headers,
    )
    assert uploaded_file(response)["original_filename"] == "chosen.txt"


def test_a_deleted_file_is_gone(http, account, task, stack) -> None:
    keep = uploaded_file(upload_raw(http, account, task["id"], b"keep", "keep.txt", "text/plain"))
    gone = uploaded_file(upload_raw(http, account, task["id"], b"gone", "gone.txt", "text/plain"))
    path = blob_root(stack) / blob_key(stack, gone["id"])
    response = http.delete(f"/files/{gone['id']}", headers=account.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert list_files(http, account, task["id"]) == [keep]
    assert_status_body(download(http, account, gone["id"]), 404, 5)
    assert_status_body(http.delete(f"/files/{gone['id']}", headers=account.headers), 404, 5)
    assert not path.exists()  # removed by the request itself, not only later
    assert files_sql(stack, "SELECT 1 FROM files WHERE id = %s", (gone["id"],)) == []


# -- refusals leave nothing behind -----------------------------------------------------------
REFUSALS = [
    pytest.param("big.pdf", file_bytes(".pdf", LIMIT + 1), None, {"file"}, id="limit-plus-one"),
    pytest.param("empty.txt", b"", None, {"file"}, id="empty"),
    pytest.param("run.exe", b"MZ\x90\x00", None, {"filename"}, id="exe"),
    pytest.param("page.html", b"<html>", None, {"filename"}, id="html"),
    pytest.param("noextension", b"text", None, {"filename"}, id="no-extension"),
    pytest.param("double.txt.exe", b"text", None, {"filename"}, id="exe-after-txt"),
    pytest.param("fake.png", b"<script>alert(1)</script>", "image/png", {"file"}, id="png-not-png"),
    pytest.param("fake.pdf", FILE_HEADS[".png"] + b"x" * 100, None, {"file"}, id="pdf-is-png"),
    pytest.param("fake.jpg", b"GIF89a" + b"x" * 100, None, {"file"}, id="jpg-is-gif"),
    pytest.param("fake.docx", FILE_HEADS[".doc"] + b"x" * 100, None, {"file"}, id="docx-is-doc"),
    pytest.param("binary.txt", b"MZ\x90\x00\x03\x00\x00\x00", "text/plain", {"file"}, id="txt-with-nul"),
    pytest.param("notes.txt", b"<b>hi</b>", "text/html", {"content_type"}, id="txt-declared-html"),
    pytest.param(
        "pic.png", FILE_HEADS[".png"] + b"x", "image/jpeg", {"content_type"}, id="png-declared-jpeg"
    ),
    pytest.param("pic.png", b"nope", "text/html", {"file", "content_type"}, id="both-wrong"),
    pytest.param("../..", b"text", "text/plain", {"filename"}, id="no-usable-name"),
]


@pytest.mark.parametrize("mode", ["multipart", "raw"])
@pytest.mark.parametrize(("name", "data", "kind", "fields"), REFUSALS)
def test_a_refused_upload_is_a_400_naming_the_field_and_stores_nothing(
    http, account, task, stack, mode: str, name: str, data: bytes, kind: str | None, fields: set[str]
) -> None:
    kept = uploaded_file(upload_raw(http, account, task["id"], b"already here", "kept.txt", "text/plain"))
    blobs_before = blob_names(stack)
    response = upload(http, account, task["id"], data, name, mode, kind)
    assert_bad_request(response, *fields)
    assert list_files(http, account, task["id"]) == [kept]
    assert files_sql(stack, "SELECT id FROM files WHERE id > %s", (kept["id"],)) == []  # no new row at all
    assert blob_names(stack) - blobs_before == set()  # not even a partial file


def test_a_raw_upload_needs_a_filename(http, account, task, stack) -> None:
    blobs_before = blob_names(stack)
    assert_bad_request(upload_raw(http, account, task["id"], b"text", None, "text/plain"), "filename")
    assert list_files(http, account, task["id"]) == []
    assert blob_names(stack) - blobs_before == set()


def test_a_body_far_over_the_limit_is_refused_before_it_is_parsed(http, account, task, stack) -> None:
    blobs_before = blob_names(stack)
    data = file_bytes(".pdf", 12 * MIB)
    for mode in UPLOADS:
        assert_bad_request(upload(http, account, task["id"], data, "huge.pdf", mode), "file")
    assert list_files(http, account, task["id"]) == []
    assert blob_names(stack) - blobs_before == set()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b"--b\r\nContent-Disposition: form-data; name=other\r\n\r\nx\r\n--b--\r\n", id="no-file-part"
        ),
        pytest.param(
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nx\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="b.txt"\r\n\r\ny\r\n--b--\r\n',
            id="two-file-parts",
        ),
        pytest.param(b"not multipart at all", id="garbage"),
    ],
)
def test_a_malformed_multipart_body_is_a_400(http, account, task, body: bytes) -> None:
    headers = {**account.headers, "content-type": "multipart/form-data; boundary=b"}
    response = http.post(files_path(task["id"]), content=body, headers=headers)
    assert_bad_request(response, "file")
    assert list_files(http, account, task["id"]) == []


def test_a_multipart_body_without_a_boundary_is_a_400(http, account, task) -> None:
    headers = {**account.headers, "content-type": "multipart/form-data"}
    assert_bad_request(http.post(files_path(task["id"]), content=b"x", headers=headers), "file")


# -- names -----------------------------------------------------------------------------------
HOSTILE_NAMES = [
    pytest.param("../../etc/passwd.txt", "passwd.txt", id="dot-dot"),
    pytest.param("/etc/passwd.txt", "passwd.txt", id="absolute"),
    pytest.param("a/b.txt", "b.txt", id="directory"),
    pytest.param("..\\..\\windows\\win.txt", "win.txt", id="backslashes"),
    pytest.param(".htaccess.txt", "htaccess.txt", id="leading-dot"),
    pytest.param("résumé 履歴書 🚀.txt", "résumé 履歴書 🚀.txt", id="unicode"),
    pytest.param("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt", id="unicode-nfc"),
    pytest.param("a" * 296 + ".txt", "a" * 251 + ".txt", id="300-chars"),
    pytest.param("evil\r\nSet-Cookie: x=1\r\n.txt", "evilSet-Cookie: x=1.txt", id="crlf-header-injection"),
    pytest.param("nul\x00byte.txt", "nulbyte.txt", id="nul"),
    pytest.param("bell\x07\x1b[31mred.txt", "bell[31mred.txt", id="control-and-escape"),
    pytest.param("gnp\u202e.txt", "gnp.txt", id="rtl-override"),
    pytest.param('say "hi"; filename=x.exe.txt', 'say "hi"; filename=x.exe.txt', id="quotes-and-params"),
    pytest.param("100% 'done' (final) [1].txt", "100% 'done' (final) [1].txt", id="punctuation"),
]


@pytest.mark.parametrize(("given", "stored"), HOSTILE_NAMES)
def test_a_hostile_name_is_stored_sanitised_and_served_safely(http, account, task, given: str, stored: str):
    data = b"contents"
    file = uploaded_file(upload_raw(http, account, task["id"], data, given, "text/plain"))
    assert file["original_filename"] == stored
    assert len(file["original_filename"]) <= 255
    assert [f["original_filename"] for f in list_files(http, account, task["id"])] == [stored]
    assert_served(download(http, account, file["id"]), data, "text/plain", stored)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        pytest.param("../../etc/passwd.txt", "passwd.txt", id="dot-dot"),
        pytest.param("a/b.txt", "b.txt", id="directory"),
        pytest.param("résumé 履歴書 🚀.txt", "résumé 履歴書 🚀.txt", id="unicode"),
        pytest.param("x" * 296 + ".txt", "x" * 251 + ".txt", id="300-chars"),
    ],
)
def test_a_hostile_multipart_name_is_sanitised_too(http, account, task, given: str, stored: str) -> None:
    file = uploaded_file(upload_multipart(http, account, task["id"], b"contents", given, "text/plain"))
    assert file["original_filename"] == stored
    assert_served(download(http, account, file["id"]), b"contents", "text/plain", stored)


# -- permissions -----------------------------------------------------------------------------
@pytest.fixture
def team(http, account, task) -> dict[str, Account]:
    """The task's owner, a viewer, an editor and a stranger (all with tokens)."""
    viewer, editor, stranger = (log_in(http, new_user(http)) for _ in range(3))
    share_task(http, account, task["id"], viewer.username, "view")
    share_task(http, account, task["id"], editor.username, "edit")
    return {"owner": account, "viewer": viewer, "editor": editor, "stranger": stranger}


def test_a_viewer_lists_and_downloads_but_neither_uploads_nor_deletes(http, team, task, stack) -> None:
    owner, viewer = team["owner"], team["viewer"]
    data = file_bytes(".pdf", 5000)
    file = uploaded_file(upload_multipart(http, owner, task["id"], data, "plan.pdf", "application/pdf"))
    assert list_files(http, viewer, task["id"]) == [file]
    assert_served(download(http, viewer, file["id"]), data, "application/pdf", "plan.pdf")
    blobs_before = blob_names(stack)
    for mode in UPLOADS:
        assert_status_body(upload(http, viewer, task["id"], b"mine", "mine.txt", mode), 403, 7)
    assert_status_body(http.delete(f"/files/{file['id']}", headers=viewer.headers), 403, 7)
    assert list_files(http, owner, task["id"]) == [file]
    assert blob_names(stack) - blobs_before == set()
    assert download(http, owner, file["id"]).content == data


def test_an_editor_uploads_and_deletes_anyones_files(http, team, task) -> None:
    owner, editor = team["owner"], team["editor"]
    owners = uploaded_file(upload_raw(http, owner, task["id"], b"by the owner", "o.txt", "text/plain"))
    editors = uploaded_file(
        upload_multipart(http, editor, task["id"], b"by the editor", "e.txt", "text/plain")
    )
    assert list_files(http, owner, task["id"]) == [owners, editors]
    assert download(http, owner, editors["id"]).content == b"by the editor"
    assert http.delete(f"/files/{owners['id']}", headers=editor.headers).status_code == 204
    assert http.delete(f"/files/{editors['id']}", headers=editor.headers).status_code == 204
    assert list_files(http, owner, task["id"]) == []


def test_the_owner_deletes_an_editors_file(http, team, task) -> None:
    owner, editor = team["owner"], team["editor"]
    editors = uploaded_file(upload_raw(http, editor, task["id"], b"x", "e.txt", "text/plain"))
    assert http.delete(f"/files/{editors['id']}", headers=owner.headers).status_code == 204


def test_a_stranger_gets_404_for_everything_and_changes_nothing(http, team, task, stack) -> None:
    owner, stranger = team["owner"], team["stranger"]
    file = uploaded_file(upload_raw(http, owner, task["id"], b"private", "p.txt", "text/plain"))
    blobs_before = blob_names(stack)
    responses = [
        http.get(files_path(task["id"]), headers=stranger.headers),
        download(http, stranger, file["id"]),
        http.delete(f"/files/{file['id']}", headers=stranger.headers),
        upload_raw(http, stranger, task["id"], b"mine", "mine.txt", "text/plain"),
        upload_multipart(http, stranger, task["id"], b"mine", "mine.txt", "text/plain"),
    ]
    for response in responses:
        body = assert_status_body(response, 404, 5)
        assert "private" not in response.text and "p.txt" not in body["message"]
    assert list_files(http, owner, task["id"]) == [file]
    assert blob_names(stack) - blobs_before == set()


def test_a_missing_task_or_file_is_404_like_a_strangers(http, account) -> None:
    assert_status_body(http.get(files_path(MISSING_ID), headers=account.headers), 404, 5)
    assert_status_body(upload_raw(http, account, MISSING_ID, b"x", "x.txt", "text/plain"), 404, 5)
    assert_status_body(download(http, account, MISSING_ID), 404, 5)
    assert_status_body(http.delete(f"/files/{MISSING_ID}", headers=account.headers), 404, 5)


def test_revoking_a_share_revokes_the_files(http, team, task) -> None:
    owner, viewer = team["owner"], team["viewer"]
    file = uploaded_file(upload_raw(http, owner, task["id"], b"x", "x.txt", "text/plain"))
    assert download(http, viewer, file["id"]).status_code == 200
    response = http.delete(f"/tasks/{task['id']}/share/{viewer.username}", headers=owner.headers)
    assert response.status_code == 204, response.text
    assert_status_body(download(http, viewer, file["id"]), 404, 5)
    assert_status_body(http.get(files_path(task["id"]), headers=viewer.headers), 404, 5)


@pytest.mark.parametrize("authorization", [None, "tampered", "Bearer abc.def", "Basic x"])
def test_without_a_valid_token_every_files_path_is_401(http, account, task, authorization) -> None:
    file = uploaded_file(upload_raw(http, account, task["id"], b"x", "x.txt", "text/plain"))
    if authorization == "tampered":
        authorization = f"Bearer {tampered_token(account.token)}"
    headers = {} if authorization is None else {"Authorization": authorization}
    responses = [
        http.post(files_path(task["id"]), files={"file": ("a.txt", b"a", "text/plain")}, headers=headers),
        http.post(
            files_path(task["id"]),
            params={"filename": "a.txt"},
            content=b"a",
            headers={**headers, "content-type": "text/plain"},
        ),
        http.get(files_path(task["id"]), headers=headers),
        http.get(f"/files/{file['id']}", headers=headers),
        http.delete(f"/files/{file['id']}", headers=headers),
        http.post(
            "/files/upload-url",
            json={"task_id": task["id"], "filename": "a.txt", "file_size": 1},
            headers=headers,
        ),
        http.post(f"/files/{file['id']}/download-url", headers=headers),
    ]
    for response in responses:
        assert_status_body(response, 401, 16)
    assert list_files(http, account, task["id"]) == [file]


def test_presigned_urls_need_s3_and_the_local_store_says_so(http, account, task) -> None:
    file = uploaded_file(upload_raw(http, account, task["id"], b"x", "x.txt", "text/plain"))
    responses = [
        http.post(
            "/files/upload-url",
            json={"task_id": task["id"], "filename": "a.txt", "file_size": 1},
            headers=account.headers,
        ),
        http.post("/files/confirm-upload", json={"upload_id": str(uuid.uuid4())}, headers=account.headers),
        http.post(f"/files/{file['id']}/download-url", headers=account.headers),
    ]
    for response in responses:  # what is missing, as a 4xx: no retry can help
        body = assert_status_body(response, 400, 9)
        assert "BLOB_STORE=s3" in body["message"]


# -- the files' life with their task ---------------------------------------------------------
def test_deleting_the_task_removes_its_files_and_then_their_blobs(http, team, task, stack) -> None:
    owner, viewer = team["owner"], team["viewer"]
    made = [
        uploaded_file(
            upload_raw(http, owner, task["id"], file_bytes(".pdf", 3000), f"{n}.pdf", "application/pdf")
        )
        for n in range(3)
    ]
    other_task = create_task(http, owner)
    survivor = uploaded_file(upload_raw(http, owner, other_task["id"], b"stays", "stays.txt", "text/plain"))
    paths = [blob_root(stack) / blob_key(stack, file["id"]) for file in made]
    assert all(path.exists() for path in paths)
    assert http.delete(f"/tasks/{task['id']}", headers=owner.headers).status_code == 204

    for reader in (owner, viewer):
        assert_status_body(http.get(files_path(task["id"]), headers=reader.headers), 404, 5)
        for file in made:
            assert_status_body(download(http, reader, file["id"]), 404, 5)
    assert_status_body(upload_raw(http, owner, task["id"], b"late", "late.txt", "text/plain"), 404, 5)
    wait_until(
        lambda: files_sql(stack, "SELECT id FROM files WHERE task_id = %s", (task["id"],)) == [],
        "the task's file rows removed",
    )
    wait_until(lambda: not any(path.exists() for path in paths), "the task's blobs removed")
    keys = [str(path.relative_to(blob_root(stack))) for path in paths]
    wait_until(
        lambda: files_sql(stack, "SELECT 1 FROM blob_deletions WHERE blob_key = ANY(%s)", (keys,)) == [],
        "the scheduled blob deletions done",
    )
    assert list_files(http, owner, other_task["id"]) == [survivor]
    assert download(http, owner, survivor["id"]).content == b"stays"


# -- events on events:files ------------------------------------------------------------------
def snapshot_json(snapshot: Any) -> dict[str, Any]:
    """A FileSnapshot as the File JSON of the API (and who uploaded it)."""
    return {
        "id": snapshot.id,
        "task_id": snapshot.task_id,
        "original_filename": snapshot.original_filename,
        "file_size": snapshot.file_size,
        "content_type": snapshot.content_type,
        "uploaded_at": snapshot.uploaded_at.ToDatetime(tzinfo=UTC),
    }


def as_json(file: dict[str, Any]) -> dict[str, Any]:
    return {**file, "uploaded_at": when(file["uploaded_at"])}


def assert_file_envelope(
    event: Any, event_type: str, *, actor: Account, task: dict[str, Any], audience: list[int], since: datetime
) -> None:
    payload = {"file.uploaded": "file_uploaded", "file.deleted": "file_deleted"}[event_type]
    assert event.type == event_type, event
    assert event.WhichOneof("payload") == payload, event
    assert uuid.UUID(event.event_id).version == 4
    assert since <= event.occurred_at.ToDatetime(tzinfo=UTC) <= datetime.now(UTC) + timedelta(seconds=1)
    assert (event.actor_user_id, event.actor_username) == (actor.id, actor.username), event
    assert (event.task_id, event.task_owner_user_id, event.task_title) == (
        task["id"],
        task["user_id"],
        task["title"],
    )
    assert list(event.audience_user_ids) == sorted(set(audience)), event
    assert (event.schema_version, event.producer) == (1, "files"), event


def test_upload_and_delete_publish_one_event_each(http, team, task, stack, since) -> None:
    owner, viewer, editor = team["owner"], team["viewer"], team["editor"]
    audience = [owner.id, viewer.id, editor.id]
    file = uploaded_file(upload_multipart(http, editor, task["id"], b"contents", "notes.txt", "text/plain"))
    # Refused uploads and deletes publish nothing.
    assert_status_body(upload_raw(http, viewer, task["id"], b"x", "x.txt", "text/plain"), 403, 7)
    assert_bad_request(upload_raw(http, owner, task["id"], b"x", "x.exe", "text/plain"), "filename")
    assert_status_body(http.delete(f"/files/{file['id']}", headers=viewer.headers), 403, 7)
    assert http.delete(f"/files/{file['id']}", headers=owner.headers).status_code == 204

    events = file_events(stack.redis_url, task["id"], until=lambda events: len(events) >= 2)
    marker = uploaded_file(upload_raw(http, owner, task["id"], b"marker", "marker.txt", "text/plain"))
    events = file_events(
        stack.redis_url,
        task["id"],
        until=lambda events: any(
            e.type == "file.uploaded" and e.file_uploaded.file.id == marker["id"] for e in events
        ),
    )
    assert [e.type for e in events] == ["file.uploaded", "file.deleted", "file.uploaded"]
    uploaded, deleted = events[0], events[1]
    assert_file_envelope(uploaded, "file.uploaded", actor=editor, task=task, audience=audience, since=since)
    assert snapshot_json(uploaded.file_uploaded.file) == as_json(file)
    assert uploaded.file_uploaded.file.uploaded_by_user_id == editor.id
    assert_file_envelope(deleted, "file.deleted", actor=owner, task=task, audience=audience, since=since)
    assert snapshot_json(deleted.file_deleted.file) == as_json(file)
    assert deleted.file_deleted.file.uploaded_by_user_id == editor.id
    assert deleted.file_deleted.cause == "request"
    assert len({e.event_id for e in events}) == 3


def test_deleting_the_task_publishes_file_deleted_for_each_file(http, team, task, stack, since) -> None:
    owner, viewer, editor = team["owner"], team["viewer"], team["editor"]
    files = [
        uploaded_file(upload_raw(http, owner, task["id"], b"one", "one.txt", "text/plain")),
        uploaded_file(upload_raw(http, editor, task["id"], b"two", "two.txt", "text/plain")),
    ]
    assert http.delete(f"/tasks/{task['id']}", headers=owner.headers).status_code == 204
    events = file_events(
        stack.redis_url, task["id"], until=lambda events: sum(e.type == "file.deleted" for e in events) >= 2
    )
    assert [e.type for e in events] == ["file.uploaded", "file.uploaded", "file.deleted", "file.deleted"]
    deleted = events[2:]
    assert sorted(snapshot_json(e.file_deleted.file)["id"] for e in deleted) == [f["id"] for f in files]
    for event in deleted:
        assert event.file_deleted.cause == "task_deleted"
        assert_file_envelope(
            event,
            "file.deleted",
            actor=owner,
            task=task,
            audience=[owner.id, viewer.id, editor.id],
            since=since,
        )
        file = next(f for f in files if f["id"] == event.file_deleted.file.id)
        assert snapshot_json(event.file_deleted.file) == as_json(file)
