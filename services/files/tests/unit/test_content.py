"""What a file is: the type its extension implies, checked against the declared type and the
first bytes; and the Content-Disposition it is served with (domain/content.py, domain/files.py)."""

from __future__ import annotations

from email.message import Message
from urllib.parse import unquote

import pytest

from support.files import content_disposition_params, disposition_filename
from tm_common.errors import InvalidArgument, PermissionDenied, Problems
from tm_files.config import FilesSettings
from tm_files.domain.content import CONTENT_TYPES, content_disposition, content_type
from tm_files.domain.files import Limits, accept, check_size, may_change

LIMITS = Limits(1000, frozenset(CONTENT_TYPES))
# A valid head for each extension with a signature, and plain text for .txt.
HEADS = {
    ".jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
    ".jpeg": b"\xff\xd8\xff\xdb",
    ".png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    ".gif": b"GIF89a\x01\x00",
    ".pdf": b"%PDF-1.7\n",
    ".txt": b"hello\n",
    ".doc": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00",
    ".docx": b"PK\x03\x04\x14\x00",
}


def kind(name: str, declared: str | None, head: bytes) -> tuple[str, dict[str, str]]:
    problems = Problems()
    return content_type(name, declared, head, problems), problems.fields


@pytest.mark.parametrize("ext", sorted(HEADS))
def test_the_stored_type_is_the_one_the_extension_implies(ext: str) -> None:
    assert kind(f"f{ext}", None, HEADS[ext]) == (CONTENT_TYPES[ext], {})
    assert kind(f"F{ext.upper()}", CONTENT_TYPES[ext], HEADS[ext]) == (CONTENT_TYPES[ext], {})


@pytest.mark.parametrize("declared", ["", "application/octet-stream", "binary/octet-stream", None])
def test_generic_declared_types_never_contradict(declared: str | None) -> None:
    assert kind("a.png", declared, HEADS[".png"]) == ("image/png", {})


def test_parameters_and_case_of_the_declared_type_are_ignored() -> None:
    assert kind("a.txt", "Text/Plain; charset=utf-8", b"hi") == ("text/plain", {})


@pytest.mark.parametrize(
    ("name", "declared"),
    [("a.txt", "text/html"), ("a.png", "image/jpeg"), ("a.pdf", "text/plain"), ("a.jpg", "image/svg+xml")],
)
def test_a_declared_type_contradicting_the_extension_names_content_type(name: str, declared: str) -> None:
    ext = "." + name.rsplit(".", 1)[1]
    stored, fields = kind(name, declared, HEADS[ext])
    assert stored == CONTENT_TYPES[ext]  # never the declared one
    assert set(fields) == {"content_type"}


@pytest.mark.parametrize("ext", [e for e in sorted(HEADS) if e != ".txt"])
def test_leading_bytes_contradicting_the_extension_name_file(ext: str) -> None:
    _, fields = kind(f"f{ext}", None, b"<html><script>alert(1)</script>")
    assert set(fields) == {"file"}


@pytest.mark.parametrize(("ext", "other"), [(".png", ".jpg"), (".gif", ".pdf"), (".docx", ".doc")])
def test_another_formats_signature_is_refused(ext: str, other: str) -> None:
    _, fields = kind(f"f{ext}", None, HEADS[other])
    assert set(fields) == {"file"}


def test_a_txt_with_nul_bytes_is_refused() -> None:
    _, fields = kind("a.txt", None, b"MZ\x90\x00\x03")
    assert set(fields) == {"file"}


def test_an_empty_head_does_not_pass_a_signature() -> None:
    _, fields = kind("a.pdf", None, b"")
    assert set(fields) == {"file"}


def test_accept_reports_every_problem_at_once() -> None:
    with pytest.raises(InvalidArgument) as refused:
        accept("a.png", "text/html", 2000, b"not a png", LIMITS)
    assert set(refused.value.fields) == {"file", "content_type"}
    with pytest.raises(InvalidArgument) as refused:
        accept("../x.exe", None, 0, b"", LIMITS)
    assert set(refused.value.fields) == {"filename", "file"}


def test_accept_returns_the_sanitised_name_and_implied_type() -> None:
    accepted = accept("../../etc/Notes.TXT", "text/plain", 1000, b"ok", LIMITS)
    assert (accepted.filename, accepted.content_type, accepted.size) == ("Notes.TXT", "text/plain", 1000)


@pytest.mark.parametrize(("size", "refused"), [(0, True), (1, False), (1000, False), (1001, True)])
def test_size_limits_are_inclusive(size: int, refused: bool) -> None:
    problems = Problems()
    check_size(size, LIMITS, problems)
    assert bool(problems.fields) is refused
    assert set(problems.fields) <= {"file"}


@pytest.mark.parametrize(("permission", "allowed"), [("owner", True), ("edit", True), ("view", False)])
def test_only_writers_change_files(permission: str, allowed: bool) -> None:
    if allowed:
        may_change(permission, 1)
    else:
        with pytest.raises(PermissionDenied):
            may_change(permission, 1)


@pytest.mark.parametrize(
    "name",
    [
        "report.pdf",
        'he said "hi".txt',
        "back\\slash.txt",
        "résumé 履歴書 🚀.txt",
        "semi;colon, comma=equals.txt",
        "100% done.txt",
        "'quoted'.txt",
    ],
)
def test_content_disposition_is_ascii_and_round_trips_the_name(name: str) -> None:
    header = content_disposition(name)
    header.encode("ascii")  # a header value must be ASCII
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="')
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert all(32 <= ord(ch) < 127 and ch not in '"\\' for ch in fallback)
    assert len(fallback) == len(name)  # one placeholder per character it cannot carry
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded, encoding="utf-8") == name
    assert all(ch.isalnum() or ch in "%-._~" for ch in encoded), encoded  # RFC 5987 attr-chars only


@pytest.mark.parametrize("name", ['a "b".txt', "résumé 履歴書.txt", "x;y=z.pdf", "a\\b.txt"])
def test_an_rfc_6266_reader_gets_the_exact_name(name: str) -> None:
    header = content_disposition(name)
    kind, params = content_disposition_params(header)
    assert (kind, set(params)) == ("attachment", {"filename", "filename*"})
    assert disposition_filename(header) == name  # filename* wins over the ASCII fallback
    # A reader that knows only `filename` gets the fallback, which holds nothing to escape.
    message = Message()
    message["content-disposition"] = header
    assert message.get_filename() == params["filename"]


def test_configured_extensions_are_normalised() -> None:
    settings = FilesSettings(allowed_extensions="PNG, .Txt  pdf,,")
    assert settings.extensions == frozenset({".png", ".txt", ".pdf"})
    assert FilesSettings().extensions == frozenset(CONTENT_TYPES)


@pytest.mark.parametrize("ext", sorted(HEADS))
def test_before_the_bytes_exist_only_the_declared_type_is_checked(ext: str) -> None:
    """A presigned upload is judged before its PUT: no head yet, so no signature to miss."""
    assert kind(f"f{ext}", None, None) == (CONTENT_TYPES[ext], {})
    assert kind(f"f{ext}", CONTENT_TYPES[ext], None) == (CONTENT_TYPES[ext], {})
    _, fields = kind(f"f{ext}", "text/html", None)
    assert set(fields) == {"content_type"}
