"""Build hook: generate the protobuf and gRPC modules, with their .pyi type stubs, into the wheel.

The same generation as tools/gen_protos.py, run by `build_py` inside pip's isolated build
environment (grpcio-tools, mypy-protobuf and googleapis-common-protos come from
[build-system] requires). google/api and google/rpc are only include paths here: their modules
come from the googleapis-common-protos runtime dependency, so the wheel ships only taskmanager.*.
"""

from __future__ import annotations

import shutil
import stat
import sys
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTOS = HERE / "protos"  # a symlink to the repository's protos/ (a copy in an sdist)


def write_plugin(directory: Path, name: str, entry: str) -> Path:
    """mypy-protobuf's plugins as scripts on this interpreter: pip's build environment puts its
    console scripts on PATH, other frontends may not."""
    script = directory / name
    script.write_text(f"#!{sys.executable}\nfrom mypy_protobuf.main import {entry}\n{entry}()\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def generate(out: Path) -> None:
    import grpc_tools
    from google.api import annotations_pb2
    from grpc_tools import protoc

    googleapis = Path(annotations_pb2.__file__).parents[2]  # google/api/*.proto lie beside it
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "taskmanager").rglob("*.proto"))
    if not sources:
        raise RuntimeError(f"no .proto files under {PROTOS / 'taskmanager'}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as plugins:
        mypy = write_plugin(Path(plugins), "protoc-gen-mypy", "main")
        mypy_grpc = write_plugin(Path(plugins), "protoc-gen-mypy_grpc", "grpc")
        code = protoc.main(
            [
                "protoc",
                f"-I{PROTOS}",
                f"-I{googleapis}",
                f"-I{well_known}",
                f"--plugin=protoc-gen-mypy={mypy}",
                f"--plugin=protoc-gen-mypy_grpc={mypy_grpc}",
                f"--python_out={out}",
                f"--grpc_python_out={out}",
                f"--mypy_out={out}",
                f"--mypy_grpc_out={out}",
                *sources,
            ]
        )
    if code != 0:
        raise RuntimeError(f"protoc failed ({code}) on {len(sources)} protos")
    for directory in [out / "taskmanager", *(out / "taskmanager").rglob("*")]:
        if directory.is_dir():
            (directory / "py.typed").touch()


class BuildPyWithProtos(build_py):
    def run(self) -> None:
        # pip builds in the source tree and setuptools reuses build/lib: start it empty, or a module
        # or proto removed since the last build would still be shipped.
        shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()
        if not self.dry_run:
            generate(Path(self.build_lib))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        generated = Path(self.build_lib) / "taskmanager"
        extra = [str(p) for p in generated.rglob("*") if p.is_file()] if generated.is_dir() else []
        return [*super().get_outputs(include_bytecode), *extra]


setup(cmdclass={"build_py": BuildPyWithProtos})
