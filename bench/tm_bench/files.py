"""Files: upload and download throughput of a 5 MiB file through Envoy (JSON/HTTP, raw body) and
over native gRPC through Envoy (1 MiB chunks), 4 clients at a time; and the files service's peak
resident memory during one 20 MiB gRPC upload (which needs MAX_FILE_BYTES above 20 MiB: the bench's
own stack sets 32 MiB)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import httpx
import psutil

from taskmanager.files.v1 import files_pb2, files_pb2_grpc
from tm_bench.target import host_port

MIB = 1024 * 1024
SIZE = 5 * MIB
CLIENTS = 4
BIG = 20 * MIB


@dataclass(frozen=True)
class Throughput:
    what: str
    files: int
    seconds: float

    def line(self) -> str:
        rate = self.files * SIZE / MIB / self.seconds
        return f"files {self.what}: {self.files} x 5 MiB in {self.seconds:.1f}s = {rate:.0f} MB/s"


def _payload(size: int) -> bytes:
    body = b"%PDF-1.4\n" + os.urandom(size - 9)
    return body


def _timed(what: str, seconds: float, once: Callable[[], None]) -> Throughput:
    """Runs `once` from CLIENTS threads for about `seconds`."""
    done = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            once()
            with lock:
                done += 1

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(loop) for _ in range(CLIENTS)]:
            future.result()
    return Throughput(what, done, time.monotonic() - started)


def _chunks(task_id: int, data: bytes, name: str) -> Iterator[files_pb2.UploadFileRequest]:
    metadata = files_pb2.UploadFileMetadata(task_id=task_id, filename=name, file_size=len(data))
    yield files_pb2.UploadFileRequest(metadata=metadata)
    for start in range(0, len(data), MIB):
        yield files_pb2.UploadFileRequest(chunk=data[start : start + MIB])


def run(gateway: str, token: str, task_id: int, seconds: int, files_pid: int | None) -> list[str]:
    data = _payload(SIZE)
    digest = hashlib.sha256(data).hexdigest()
    headers = {"authorization": f"Bearer {token}"}
    metadata = (("authorization", f"Bearer {token}"),)
    notes: list[str] = []
    with httpx.Client(base_url=gateway, timeout=60, headers=headers) as http:

        def upload_http() -> None:
            response = http.post(
                f"/tasks/{task_id}/files?filename=bench.pdf",
                content=data,
                headers={"content-type": "application/pdf"},
            )
            response.raise_for_status()

        notes.append(_timed("upload, JSON via Envoy", seconds, upload_http).line())
        file_id = http.get(f"/tasks/{task_id}/files").json()[-1]["id"]

        def download_http() -> None:
            response = http.get(f"/files/{file_id}")
            response.raise_for_status()
            assert hashlib.sha256(response.content).hexdigest() == digest

        notes.append(_timed("download, JSON via Envoy", seconds, download_http).line())

    options = [("grpc.max_receive_message_length", 64 * MIB)]
    with grpc.insecure_channel(host_port(gateway), options=options) as channel:
        stub = files_pb2_grpc.FilesServiceStub(channel)

        def upload_grpc() -> None:
            stub.UploadFile(_chunks(task_id, data, "bench.pdf"), metadata=metadata, timeout=60)

        notes.append(_timed("upload, gRPC via Envoy", seconds, upload_grpc).line())

        def download_grpc() -> None:
            received = hashlib.sha256()
            for message in stub.DownloadFile(files_pb2.DownloadFileRequest(id=file_id), metadata=metadata):
                received.update(message.chunk)
            assert received.hexdigest() == digest

        notes.append(_timed("download, gRPC via Envoy", seconds, download_grpc).line())
        if files_pid is not None:
            notes.append(_peak_rss(stub, metadata, task_id, files_pid))
    return notes


def _peak_rss(
    stub: files_pb2_grpc.FilesServiceStub, metadata: tuple[tuple[str, str], ...], task_id: int, pid: int
) -> str:
    process = psutil.Process(pid)
    before = process.memory_info().rss
    peak = before
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        stub.UploadFile(_chunks(task_id, _payload(BIG), "big.pdf"), metadata=metadata, timeout=120)
    finally:
        stop.set()
        sampler.join()
    return (
        f"files service RSS during one 20 MiB gRPC upload: {before / MIB:.0f} MiB before, "
        f"peak {peak / MIB:.0f} MiB (+{(peak - before) / MIB:.1f} MiB)"
    )
