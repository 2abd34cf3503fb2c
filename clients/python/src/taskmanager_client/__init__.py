"""Typed gRPC client for the Task Manager: `Client` wraps the generated stubs (`taskmanager.*`)
on one channel that sends the token, a request id and a deadline, and retries what is safe."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from taskmanager_client.client import Client
from taskmanager_client.retries import IDEMPOTENT_METHODS, service_config


def _version() -> str:
    try:
        return metadata.version("taskmanager-client")
    except metadata.PackageNotFoundError:  # imported from a source checkout, not installed
        source = Path(__file__).resolve().parents[2] / "VERSION"
        return source.read_text().strip() if source.is_file() else "0+unknown"


__version__ = _version()

__all__ = ["IDEMPOTENT_METHODS", "Client", "__version__", "service_config"]
