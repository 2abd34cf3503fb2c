"""Names as users give them, made safe to store and show (domain/names.py)."""

from __future__ import annotations

import pytest

from tm_common.errors import Problems
from tm_files.domain.names import MAX_NAME, check_extension, extension, sanitize

ALLOWED = frozenset({".txt", ".png", ".pdf"})


def clean(name: str | None) -> tuple[str, dict[str, str]]:
    problems = Problems()
    return sanitize(name, problems), problems.fields


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        pytest.param("report.txt", "report.txt", id="plain"),
        pytest.param("../../etc/passwd.txt", "passwd.txt", id="dot-dot"),
        pytest.param("/etc/passwd.txt", "passwd.txt", id="absolute"),
        pytest.param("a/b.txt", "b.txt", id="directory"),
        pytest.param("C:\\Users\\me\\evil.txt", "evil.txt", id="windows-path"),
        pytest.param("..\\..\\boot.ini.txt", "boot.ini.txt", id="windows-dot-dot"),
        pytest.param(".hidden.txt", "hidden.txt", id="leading-dot"),
        pytest.param(" .. . x.txt", "x.txt", id="leading-dots-and-spaces"),
        pytest.param("evil\r\nX-Injected: 1.txt", "evilX-Injected: 1.txt", id="crlf"),
        pytest.param("nul\x00byte.txt", "nulbyte.txt", id="nul"),
        pytest.param("tab\there\x7f.txt", "tabhere.txt", id="tab-and-del"),
        pytest.param("bidi\u202etxt.exe.txt", "biditxt.exe.txt", id="right-to-left-override"),
        pytest.param("zero\u200bwidth.txt", "zerowidth.txt", id="zero-width-space"),
        pytest.param("résumé 履歴書 🚀.txt", "résumé 履歴書 🚀.txt", id="unicode-kept"),
        pytest.param("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt", id="nfc"),
        pytest.param("  padded.txt  ", "padded.txt", id="outer-spaces"),
    ],
)
def test_a_name_keeps_only_its_last_safe_segment(given: str, stored: str) -> None:
    assert clean(given) == (stored, {})


@pytest.mark.parametrize("given", [None, "", "   ", "../", "a/", "...", "\x00\x01", "\u200b"])
def test_a_name_with_nothing_usable_is_refused(given: str | None) -> None:
    name, fields = clean(given)
    assert name == ""
    assert set(fields) == {"filename"}


def test_a_long_name_is_cut_to_the_limit_keeping_its_extension() -> None:
    name, fields = clean("a" * 300 + ".txt")
    assert fields == {}
    assert len(name) == MAX_NAME
    assert name == "a" * (MAX_NAME - 4) + ".txt"


def test_a_long_name_counts_characters_not_bytes() -> None:
    name, _ = clean("é" * 254 + ".txt")
    assert name == "é" * (MAX_NAME - 4) + ".txt"


def test_a_name_at_the_limit_is_kept_whole() -> None:
    given = "b" * (MAX_NAME - 4) + ".pdf"
    assert clean(given) == (given, {})


def test_an_absurdly_long_extension_is_not_kept_when_cutting() -> None:
    name, _ = clean("x" * 300 + "." + "y" * 20)
    assert name == "x" * MAX_NAME


@pytest.mark.parametrize(
    ("name", "ext"),
    [("a.TXT", ".txt"), ("a.tar.gz", ".gz"), ("noext", ""), (".txt", ""), ("x.Png", ".png")],
)
def test_extension_is_lowercased_with_its_dot(name: str, ext: str) -> None:
    assert extension(name) == ext


@pytest.mark.parametrize("name", ["a.txt", "A.TXT", "scan.Png", "x.pdf"])
def test_allowed_extensions_pass_in_any_case(name: str) -> None:
    problems = Problems()
    check_extension(name, ALLOWED, problems)
    assert problems.fields == {}


@pytest.mark.parametrize("name", ["run.exe", "page.html", "noext", "a.txt.exe", "archive.tar.gz"])
def test_other_extensions_are_refused_naming_the_filename(name: str) -> None:
    problems = Problems()
    check_extension(name, ALLOWED, problems)
    assert set(problems.fields) == {"filename"}
    assert "not allowed" in problems.fields["filename"]
