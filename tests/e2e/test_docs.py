"""The API docs the gateway serves itself, without a token: /openapi.json, Swagger UI at /docs and
ReDoc at /redoc, every asset from this gateway (a pinned package, no CDN)."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import yaml

from support.accounts import Account
from support.errors import assert_status_body
from tm_devstack import gateway

ROOT = Path(__file__).resolve().parents[2]

PAGES = ["/docs", "/redoc"]
JS = ("text/javascript", "application/javascript")
ASSET_TYPES = {".js": JS, ".css": ("text/css",), ".png": ("image/png",)}


class _References(HTMLParser):
    """Every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def test_openapi_document_is_public_json(http: httpx.Client, account: Account) -> None:
    anonymous = http.get("/openapi.json")
    assert anonymous.status_code == 200, anonymous.text
    assert media_type(anonymous) == "application/json"
    document = anonymous.json()
    assert "openapi" in document and "paths" in document
    assert anonymous.headers["x-content-type-options"] == "nosniff"
    assert anonymous.headers["cache-control"] == "no-cache"  # it changes with the protos
    # A token does not get in the way (the same document).
    authorized = http.get("/openapi.json", headers=account.headers)
    assert authorized.status_code == 200
    assert authorized.json() == document


@pytest.mark.parametrize("page", PAGES)
def test_docs_pages_are_public_html_with_local_assets_only(http: httpx.Client, page: str) -> None:
    response = http.get(page)
    assert response.status_code == 200, response.text
    assert media_type(response) == "text/html"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy
    html = response.text
    # No other host anywhere in the page: not in a src or href, not in the text.
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), html
    urls = references(html)
    assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert "<script>" not in html  # no inline script: the policy would block it anyway
    for url in urls:
        asset = http.get(url)
        assert asset.status_code == 200, (url, asset.status_code)
        suffix = url[url.rindex(".") :]
        assert media_type(asset) in ASSET_TYPES[suffix], (url, asset.headers["content-type"])
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert int(asset.headers["content-length"]) == len(asset.content) > 0


def test_swagger_ui_is_the_packaged_bundle_and_reads_the_gateway_document(http: httpx.Client) -> None:
    bundle = http.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert len(bundle.content) > 500_000  # the whole dist build, not a stub
    assert bundle.headers["cache-control"] == "public, max-age=3600"
    init = http.get("/docs/docs-init.js").text
    assert 'url: "/openapi.json"' in init
    assert "persistAuthorization: true" in init
    assert "validatorUrl: null" in init  # no call to validator.swagger.io
    redoc = http.get("/redoc/redoc.standalone.js")
    assert redoc.status_code == 200 and len(redoc.content) > 500_000
    assert 'spec-url="/openapi.json"' in http.get("/redoc").text


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"])
def test_head_answers_headers_only(http: httpx.Client, path: str) -> None:
    full = http.get(path)
    head = http.head(path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == full.headers["content-type"]


@pytest.mark.parametrize("path", ["/docs/nope.js", "/redoc/nope.js", "/docs/swagger-ui-bundle.js.map"])
def test_unknown_docs_paths_are_404_without_a_token(http: httpx.Client, path: str) -> None:
    assert_status_body(http.get(path), 404, 5)


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/redoc/redoc.standalone.js"])
def test_docs_only_take_get_and_head(http: httpx.Client, path: str) -> None:
    response = http.post(path, json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert http.delete(path).status_code == 405


def test_the_api_still_needs_a_token(http: httpx.Client, account: Account) -> None:
    assert_status_body(http.get("/tasks"), 401, 16)
    # Neither a query string nor a docs-like prefix opens it.
    assert_status_body(http.get("/tasks?x=/docs"), 401, 16)
    assert_status_body(http.get("/docs/../tasks"), 401, 16)
    assert http.get("/tasks", headers=account.headers).status_code == 200


def test_docs_paths_are_case_sensitive_and_exact(http: httpx.Client) -> None:
    # Not docs: the gateway's ordinary rules (a token first).
    assert_status_body(http.get("/DOCS"), 401, 16)
    assert_status_body(http.get("/docsx"), 401, 16)


# -- the rendered config (no stack) --------------------------------------------------------------


def docs_routes(settings: gateway.GatewaySettings) -> dict[str, dict]:
    config = yaml.safe_load(gateway.envoy_config(settings))
    listener = {item["name"]: item for item in config["static_resources"]["listeners"]}["gateway"]
    (host,) = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"]
    return {r["match"]["path"]: r for r in host["routes"] if "direct_response" in r and "path" in r["match"]}


def settings(tmp_path: Path, docs_files: dict[str, Path]) -> gateway.GatewaySettings:
    return gateway.GatewaySettings(
        upstreams={name: ("127.0.0.1", 50051) for name in gateway.UPSTREAM_DEFAULTS},
        descriptor_set=ROOT / "build" / "descriptors" / "taskmanager.pb",
        lua_file=tmp_path / "gateway.lua",
        admin_socket=tmp_path / "admin.sock",
        docs_files=docs_files,
    )


def test_the_local_render_serves_each_docs_file_by_absolute_path(tmp_path: Path) -> None:
    files = gateway.local_docs_files()
    assert set(files) == set(gateway.DOCS_PLACEHOLDERS), "make protos, pip install -r requirements.txt"
    routes = docs_routes(settings(tmp_path, files))
    assert len(routes) == len(gateway.DOCS_PLACEHOLDERS)
    for path, route in routes.items():
        served = Path(route["direct_response"]["body"]["filename"])
        assert route["direct_response"]["status"] == 200, path
        assert served.is_absolute() and served.is_file(), path
        # Not transcoded (the transcoder would answer 404 for a path of no gRPC method).
        assert route["typed_per_filter_config"]["envoy.filters.http.grpc_json_transcoder"]["disabled"]
    assert routes["/docs/swagger-ui-bundle.js"]["direct_response"]["body"]["filename"].endswith(
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    )


def test_a_render_without_the_files_answers_404_and_envoy_accepts_both(tmp_path: Path) -> None:
    """A gateway rendered without the docs files has the same routes, each a 404."""
    for name, files in (("bare", {}), ("local", gateway.local_docs_files())):
        out = tmp_path / name
        config = gateway.write(out, settings(out, files))
        if name == "bare":
            for route in docs_routes(settings(out, files)).values():
                assert route["direct_response"]["status"] == 404
                assert "filename" not in route["direct_response"]["body"]
        result = subprocess.run(
            [ROOT / ".venv" / "bin" / "envoy", "--mode", "validate", "-c", config, "--log-level", "critical"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_bundle_docs_copies_every_file_under_the_names_the_image_config_uses(tmp_path: Path) -> None:
    bundled = gateway.bundle_docs(tmp_path / "docs")
    assert bundled == gateway.docs_files_in(tmp_path / "docs")
    assert set(bundled) == set(gateway.DOCS_PLACEHOLDERS)
    local = gateway.local_docs_files()
    for name, path in bundled.items():
        assert path.read_bytes() == local[name].read_bytes(), name


def test_bundle_docs_refuses_an_incomplete_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway, "OPENAPI_JSON", tmp_path / "never-generated.json")
    with pytest.raises(FileNotFoundError, match=r"DOCS_OPENAPI_JSON.*make protos"):
        gateway.bundle_docs(tmp_path / "docs")
    assert not (tmp_path / "docs").exists()
