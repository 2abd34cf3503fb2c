"""A local S3 (moto's server mode, over real HTTP) for the blob store and presigned tests, and
files servers in this process, against the stack's Postgres, Redis, auth and tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest

from support.files import MotoServer, files_server
from taskmanager.files.v1 import files_pb2_grpc


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http(stack) -> Iterator[httpx.Client]:
    """JSON through the stack's gateway: accounts, tasks and shares for the servers under test."""
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def s3_files(stack, moto: MotoServer) -> AsyncIterator[tuple[str, str]]:
    """(address, bucket) of a files server in this process that keeps its blobs in a bucket of the
    local S3, with server-side encryption as in production."""
    bucket = moto.new_bucket()
    async with files_server(
        stack,
        blob_store="s3",
        s3_bucket=bucket,
        s3_endpoint_url=moto.endpoint_url,
        s3_server_side_encryption="AES256",
        presigned_url_seconds=300,
    ) as address:
        yield address, bucket


@pytest.fixture
async def s3_stub(s3_files: tuple[str, str]) -> AsyncIterator[files_pb2_grpc.FilesServiceStub]:
    async with grpc.aio.insecure_channel(s3_files[0]) as channel:
        yield files_pb2_grpc.FilesServiceStub(channel)
