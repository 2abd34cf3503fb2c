"""Service identity over real in-process mTLS servers (the common server, certificates from the
local stack's tm_devstack.certs): who may call an internal-only RPC is the caller's certificate,
never its token."""

from __future__ import annotations

import json
import socket
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ed25519
from grpc_health.v1 import health_pb2, health_pb2_grpc
from jwt.algorithms import OKPAlgorithm

from tm_common import identity
from tm_common.clients import service_channel
from tm_common.config import ServiceSettings
from tm_common.server import RunningServer, ServiceDefinition, start_server
from tm_common.tokens import TokenVerifier
from tm_devstack import certs, gateway

USER_DIRECTORY = "taskmanager.auth.v1.UserDirectoryService"
GET_USER = f"/{USER_DIRECTORY}/GetUser"
PUBLIC_SERVICE = "test.identity.v1.Public"
WHO_AM_I = f"/{PUBLIC_SERVICE}/WhoAmI"  # needs a user's token, like every public RPC
NAMES = ["auth", "tasks", "notify", certs.GATEWAY, certs.TEST_CLIENT]
ISSUER = AUDIENCE = "test"


async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


def register(server: grpc.aio.Server) -> None:
    for service, method in ((USER_DIRECTORY, "GetUser"), (PUBLIC_SERVICE, "WhoAmI")):
        handlers = {method: grpc.unary_unary_rpc_method_handler(echo)}
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, handlers)])


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, certs.Identity]:
    return certs.ensure(tmp_path_factory.mktemp("tls"), NAMES)


@pytest.fixture(scope="module")
def signing_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def user_token(signing_key: ed25519.Ed25519PrivateKey) -> str:
    now = int(time.time())
    claims = {"sub": "7", "username": "ann", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    return jwt.encode(claims, signing_key, algorithm="EdDSA", headers={"kid": "k1"})


async def start(tls_env: dict[str, str] | None, signing_key: ed25519.Ed25519PrivateKey) -> RunningServer:
    async def keys() -> list[dict[str, Any]]:
        jwk = json.loads(OKPAlgorithm.to_jwk(signing_key.public_key()))
        return [{**jwk, "kid": "k1", "alg": "EdDSA", "use": "sig"}]

    settings = ServiceSettings(
        service_name="auth", metrics_port=0, **{k.lower(): v for k, v in (tls_env or {}).items()}
    )
    definition = ServiceDefinition(
        name="auth",
        register=register,
        service_names=[USER_DIRECTORY, PUBLIC_SERVICE],
        verifier=TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE),
    )
    return await start_server(definition, settings, "127.0.0.1:0")


@pytest.fixture(scope="module")
async def mtls_port(
    tls: dict[str, certs.Identity], signing_key: ed25519.Ed25519PrivateKey
) -> AsyncIterator[int]:
    running = await start(tls["auth"].environment(), signing_key)
    yield running.port
    await running.stop(0)


def as_identity(tls: dict[str, certs.Identity], name: str) -> grpc.ChannelCredentials:
    files = tls[name]
    return identity.channel_credentials(identity.TlsFiles(files.ca, files.cert, files.key))


async def call(
    port: int, credentials: grpc.ChannelCredentials | None, method: str, token: str | None
) -> grpc.StatusCode:
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    target = f"127.0.0.1:{port}"
    channel = (
        grpc.aio.secure_channel(target, credentials) if credentials else grpc.aio.insecure_channel(target)
    )
    async with channel:
        try:
            await channel.unary_unary(method)(b"x", metadata=metadata, timeout=5)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK


def test_the_table() -> None:
    assert identity.may_call(GET_USER, "tasks")
    assert identity.may_call(GET_USER, "notify")
    assert not identity.may_call(GET_USER, "files")
    assert not identity.may_call(GET_USER, identity.GATEWAY)
    assert not identity.may_call(GET_USER, None)
    assert not identity.may_call("/taskmanager.tasks.v1.TaskAccessService/CheckAccess", "tasks")
    assert identity.may_call("/taskmanager.tasks.v1.TaskAccessService/CheckAccess", "files")
    assert identity.may_call("/taskmanager.ops.v1.DiagnosticsService/CheckDependencies", "activity")
    assert not identity.may_call("/taskmanager.ops.v1.DiagnosticsService/CheckDependencies", identity.GATEWAY)
    # Public RPCs: any caller (the user's token decides).
    assert identity.may_call("/taskmanager.tasks.v1.TasksService/ListTasks", identity.GATEWAY)
    assert identity.may_call("/taskmanager.tasks.v1.TasksService/ListTasks", None)


@pytest.mark.parametrize("caller", [certs.TEST_CLIENT, certs.GATEWAY, "auth"])
async def test_a_user_token_does_not_open_an_internal_rpc(
    mtls_port: int, tls: dict[str, certs.Identity], user_token: str, caller: str
) -> None:
    code = await call(mtls_port, as_identity(tls, caller), GET_USER, user_token)
    assert code == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("caller", ["tasks", "notify"])
async def test_an_allowed_service_calls_an_internal_rpc(
    mtls_port: int, tls: dict[str, certs.Identity], user_token: str, caller: str
) -> None:
    assert await call(mtls_port, as_identity(tls, caller), GET_USER, user_token) == grpc.StatusCode.OK


async def test_public_rpcs_still_need_the_users_token(
    mtls_port: int, tls: dict[str, certs.Identity], user_token: str
) -> None:
    gateway = as_identity(tls, certs.GATEWAY)
    assert await call(mtls_port, gateway, WHO_AM_I, user_token) == grpc.StatusCode.OK
    assert await call(mtls_port, gateway, WHO_AM_I, None) == grpc.StatusCode.UNAUTHENTICATED
    # A service's identity is no user: an internal RPC still verifies the token it carries.
    assert await call(mtls_port, as_identity(tls, "tasks"), GET_USER, None) == grpc.StatusCode.UNAUTHENTICATED


async def test_no_client_certificate_no_connection(
    mtls_port: int, tls: dict[str, certs.Identity], user_token: str
) -> None:
    server_only = grpc.ssl_channel_credentials(root_certificates=tls["auth"].ca.read_bytes())
    assert await call(mtls_port, server_only, WHO_AM_I, user_token) == grpc.StatusCode.UNAVAILABLE
    assert await call(mtls_port, None, WHO_AM_I, user_token) == grpc.StatusCode.UNAVAILABLE


async def test_a_certificate_of_another_ca_is_refused(
    mtls_port: int, tls: dict[str, certs.Identity], tmp_path: Path, user_token: str
) -> None:
    stranger = certs.ensure(tmp_path, ["tasks"])["tasks"]  # trusts our CA, signed by another
    credentials = identity.channel_credentials(identity.TlsFiles(tls["auth"].ca, stranger.cert, stranger.key))
    assert await call(mtls_port, credentials, GET_USER, user_token) == grpc.StatusCode.UNAVAILABLE


async def test_without_tls_internal_rpcs_are_as_before(
    signing_key: ed25519.Ed25519PrivateKey, user_token: str
) -> None:
    running = await start(None, signing_key)
    try:
        assert await call(running.port, None, GET_USER, user_token) == grpc.StatusCode.OK
    finally:
        await running.stop(0)


@pytest.mark.parametrize(
    "target", ["127.0.0.1:{port}", "localhost:{port}", "ipv4:127.0.0.1:{port},127.0.0.1:{port}"]
)
async def test_service_channels_present_the_services_certificate(
    mtls_port: int, tls: dict[str, certs.Identity], user_token: str, target: str
) -> None:
    """... and verify the server's, whatever the form of the target (a list of addresses too)."""
    files = tls["tasks"]
    identity.use_client_tls(identity.TlsFiles(files.ca, files.cert, files.key))
    try:
        async with service_channel(target.format(port=mtls_port)) as channel:
            metadata = (("authorization", f"Bearer {user_token}"),)
            assert await channel.unary_unary(GET_USER)(b"x", metadata=metadata, timeout=5) == b"x"
    finally:
        identity.use_client_tls(None)


def test_certificates_are_reused_while_valid_and_keys_are_private(tmp_path: Path) -> None:
    first = certs.ensure(tmp_path, ["tasks"])["tasks"]
    pem = first.cert.read_bytes()
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    assert certs.ensure(tmp_path, ["tasks"])["tasks"].cert.read_bytes() == pem
    # A new CA re-issues what it did not sign.
    (tmp_path / "ca.key").unlink()
    assert certs.ensure(tmp_path, ["tasks"])["tasks"].cert.read_bytes() != pem


async def test_the_health_port_answers_probes_in_plaintext_and_nothing_else(
    tls: dict[str, certs.Identity], signing_key: ed25519.Ed25519PrivateKey, user_token: str
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        health_port = s.getsockname()[1]
    running = await start({**tls["auth"].environment(), "HEALTH_PORT": str(health_port)}, signing_key)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{health_port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert await call(health_port, None, GET_USER, user_token) == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await running.stop(0)


def test_tls_settings_are_all_three_or_none() -> None:
    assert not ServiceSettings().tls_enabled
    assert ServiceSettings(tls_ca_file="ca", tls_cert_file="crt", tls_key_file="key").tls_enabled
    with pytest.raises(ValueError, match="go together"):
        ServiceSettings(tls_ca_file="ca", tls_cert_file="crt")


@pytest.mark.parametrize("tls_mode", ["sds", "inline", "off"])
def test_envoy_speaks_mtls_to_each_service_as_the_gateway(tmp_path: Path, tls_mode: str) -> None:
    files = certs.ensure(tmp_path, [certs.GATEWAY])[certs.GATEWAY]
    upstreams = {name: ("127.0.0.1", 50051 + i) for i, name in enumerate(identity.SERVICE_NAMES)}
    settings = gateway.GatewaySettings(
        upstreams=upstreams,
        descriptor_set=tmp_path / "taskmanager.pb",
        lua_file=tmp_path / "gateway.lua",
        upstream_tls=gateway.UpstreamTls(files.ca, files.cert, files.key) if tls_mode != "off" else None,
        upstream_tls_by_sds=tls_mode == "sds",
    )
    config = yaml.safe_load(gateway.envoy_config(settings))
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    for name in [*identity.SERVICE_NAMES, "ops"]:
        socket_config = clusters[name].get("transport_socket")
        if tls_mode == "off":
            assert socket_config is None, name
            continue
        context = socket_config["typed_config"]["common_tls_context"]
        assert context["alpn_protocols"] == ["h2"]
        if tls_mode == "inline":
            assert context["tls_certificates"] == [
                {
                    "certificate_chain": {"filename": str(files.cert)},
                    "private_key": {"filename": str(files.key)},
                }
            ]
            assert context["validation_context"]["trusted_ca"] == {"filename": str(files.ca)}
            matchers = context["validation_context"]["match_typed_subject_alt_names"]
        else:  # the files by SDS, from the resource files beside the config (test_upstream_tls_reload)
            (certificate,) = context["tls_certificate_sds_secret_configs"]
            validation = context["combined_validation_context"]
            ca = validation["validation_context_sds_secret_config"]
            sds = {certificate["name"]: certificate, ca["name"]: ca}
            for secret, file_name in (
                (gateway.SDS_CERTIFICATE, gateway.SDS_CERTIFICATE_FILE),
                (gateway.SDS_CA, gateway.SDS_CA_FILE),
            ):
                assert sds[secret]["sds_config"]["path_config_source"] == {
                    "path": str(tmp_path / file_name),
                    "watched_directory": {"path": str(tmp_path)},
                }
            matchers = validation["default_validation_context"]["match_typed_subject_alt_names"]
        sans = [m["matcher"]["exact"] for m in matchers]
        assert sans == (list(identity.SERVICE_NAMES) if name == "ops" else [name]), name
    assert ("node" in config) == (tls_mode == "sds")  # SDS needs the node's name


def test_envoys_sds_files_name_the_pem_files_and_watch_their_directory(tmp_path: Path) -> None:
    files = certs.ensure(tmp_path / "tls", [certs.GATEWAY])[certs.GATEWAY]
    settings = gateway.GatewaySettings(
        upstreams={name: ("127.0.0.1", 50051) for name in identity.SERVICE_NAMES},
        descriptor_set=tmp_path / "taskmanager.pb",
        lua_file=tmp_path / "out" / "gateway.lua",
        upstream_tls=gateway.UpstreamTls(files.ca, files.cert, files.key),
    )
    gateway.write(tmp_path / "out", settings)
    secrets = {}
    for name in (gateway.SDS_CERTIFICATE_FILE, gateway.SDS_CA_FILE):
        (resource,) = yaml.safe_load((tmp_path / "out" / name).read_text())["resources"]
        assert resource["@type"] == gateway.SECRET_TYPE
        secrets[resource["name"]] = resource
    watched = {"path": str(files.cert.parent)}
    assert secrets[gateway.SDS_CERTIFICATE]["tls_certificate"] == {
        "certificate_chain": {"filename": str(files.cert)},
        "private_key": {"filename": str(files.key)},
        "watched_directory": watched,
    }
    assert secrets[gateway.SDS_CA]["validation_context"] == {
        "trusted_ca": {"filename": str(files.ca)},
        "watched_directory": watched,
    }
