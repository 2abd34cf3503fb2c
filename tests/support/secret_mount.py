"""A directory laid out as the kubelet mounts a Secret, for tests of certificate renewal."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from tm_common import identity
from tm_common.certs import Identity

_versions = itertools.count()


class SecretMount:
    """ca.crt, tls.crt, tls.key are symlinks to ..data/<name>, and ..data a symlink to the current
    version's directory, which a new version replaces at once (as the kubelet updates a Secret)."""

    NAMES = ("ca.crt", "tls.crt", "tls.key")

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True)

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def files(self) -> identity.TlsFiles:
        return identity.TlsFiles(*(self.path(name) for name in self.NAMES))

    def environment(self) -> dict[str, str]:
        """The TLS settings of a service (tm_common.config) that reads this mount."""
        ca, cert, key = self.files.ca, self.files.cert, self.files.key
        return {"tls_ca_file": str(ca), "tls_cert_file": str(cert), "tls_key_file": str(key)}

    def publish(self, ca: bytes, cert: bytes, key: bytes) -> None:
        version = self.directory / f"..version_{next(_versions)}"
        version.mkdir()
        for name, content in zip(self.NAMES, (ca, cert, key), strict=True):
            (version / name).write_bytes(content)
        staged = self.directory / "..data_tmp"
        staged.symlink_to(version.name)
        os.replace(staged, self.directory / "..data")
        for name in self.NAMES:
            if not self.path(name).is_symlink():
                self.path(name).symlink_to(f"..data/{name}")

    def publish_identity(self, issued: Identity) -> None:
        self.publish(issued.ca.read_bytes(), issued.cert.read_bytes(), issued.key.read_bytes())

    def current_version(self) -> Path:
        return self.directory / os.readlink(self.directory / "..data")
