"""Swagger UI at /docs in a real browser (headless Chromium): it renders every tag of the OpenAPI
document, and "Authorize" then "Try it out" on GET /tasks calls this gateway with the token.

Chromium and chromedriver are Debian's packages, installed on first use (tests/support/browser.py);
the first run may spend a minute or two on that, hence the longer timeout."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import browser
from support.accounts import Account, unique
from support.browser import BrowserUnavailable, SwaggerUI, ensure_chromium, headless_chrome
from support.tasks import create_task
from tm_devstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "build" / "openapi" / "openapi.json"
ARTIFACTS = ROOT / "build" / "test-artifacts"
# Each test's screenshot, kept whatever the outcome (the others: docs-<test name>.png).
SCREENSHOTS = {"test_try_it_out_lists_the_authorized_users_tasks": "docs-try-it-out.png"}

pytestmark = pytest.mark.timeout(900)


def openapi() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI.read_text())
    return document


def document_tags() -> list[str]:
    """The tags the document declares, then any that only its operations name."""
    document = openapi()
    declared = [tag["name"] for tag in document.get("tags", [])]
    used = {tag for path in document["paths"].values() for op in path.values() for tag in op.get("tags", [])}
    return declared + sorted(used - set(declared))


def list_tasks_operation() -> tuple[str, str]:
    """(tag, operationId) of GET /tasks: Swagger UI's element id for the operation is made of both."""
    operation = openapi()["paths"]["/tasks"]["get"]
    return operation["tags"][0], operation["operationId"]


@pytest.fixture(scope="module")
def chromium() -> tuple[str, str]:
    try:
        return ensure_chromium()
    except BrowserUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def docs(chromium: tuple[str, str], stack: Stack, request: pytest.FixtureRequest) -> Iterator[SwaggerUI]:
    """/docs open in a fresh browser (so no token kept from another test); the screenshot is
    taken at the end, pass or fail."""
    screenshot = ARTIFACTS / SCREENSHOTS.get(request.node.name, f"docs-{request.node.name}.png")
    driver = headless_chrome(*chromium)
    page = SwaggerUI(driver, stack.gateway_url)
    try:
        page.open()
        yield page
    finally:
        try:
            print(f"screenshot: {page.save_screenshot(screenshot)}")
        finally:
            driver.quit()


def test_docs_lists_every_tag_of_the_document(docs: SwaggerUI) -> None:
    expected = document_tags()
    assert expected, f"{OPENAPI} names no tags"
    listed = docs.listed_tags()
    assert [tag for tag in expected if tag not in listed] == [], listed


def test_try_it_out_lists_the_authorized_users_tasks(
    docs: SwaggerUI, http: httpx.Client, account: Account, stack: Stack
) -> None:
    title = unique("browser task ")
    create_task(http, account, title=title)
    docs.authorize(account.token)
    response = docs.try_it_out(*list_tasks_operation())
    assert response.request_url == f"{stack.gateway_url}/tasks", response  # this same gateway
    assert response.status == 200 and response.documented, response
    listing = json.loads(response.body)
    assert [task["title"] for task in listing["tasks"]] == [title], listing


def test_try_it_out_with_an_invalid_token_shows_401(docs: SwaggerUI, account: Account) -> None:
    header, claims, signature = account.token.split(".")
    docs.authorize(f"{header}.{claims}.{signature[::-1]}")  # well-formed, but not auth's signature
    response = docs.try_it_out(*list_tasks_operation())
    assert response.status == 401 and response.documented, response
    error = json.loads(response.body)
    assert error["code"] == 16, error  # UNAUTHENTICATED, the one error shape


def test_a_browser_that_cannot_be_installed_is_a_clear_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root (or no apt-get) and no chromium on PATH: an error that says what to install."""
    monkeypatch.setattr(browser, "_found", lambda: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(BrowserUnavailable, match="apt-get install chromium chromium-driver"):
        ensure_chromium()
