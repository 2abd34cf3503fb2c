"""Generate Python stubs, type stubs and the Envoy descriptor set from protos/.

Outputs are build artefacts (never committed):
  build/gen/python/            *_pb2.py, *_pb2_grpc.py, *.pyi
  build/descriptors/taskmanager.pb   descriptor set for Envoy's transcoder
  build/descriptors/contract.pb      the same as written (response_body kept), with comments, for
                                     tools/gen_openapi.py
and a .pth file that puts build/gen/python on the virtualenv's import path.

Container builds (deploy/docker/service.Dockerfile, gateway/Dockerfile) run it with
`--no-pyi --no-pth`: no type stubs (so no mypy-protobuf), and no .pth (the image sets PYTHONPATH).
"""

from __future__ import annotations

import argparse
import os
import shutil
import site
import sys
import tempfile
from pathlib import Path

import grpc_tools
from google.api import annotations_pb2, httpbody_pb2
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
GOOGLEAPIS = ROOT / "third_party" / "googleapis"
OUT_PY = ROOT / "build" / "gen" / "python"
DESCRIPTOR_SET = ROOT / "build" / "descriptors" / "taskmanager.pb"
CONTRACT_SET = ROOT / "build" / "descriptors" / "contract.pb"
BIN = Path(sys.executable).parent  # the virtualenv's scripts (mypy-protobuf's plugins)
WELL_KNOWN = Path(grpc_tools.__file__).parent / "_proto"
# Rich error details must be in the descriptor set, or Envoy cannot render them as JSON.
EXTRA_FOR_ENVOY = ["google/rpc/status.proto", "google/rpc/error_details.proto"]


def run_protoc(args: list[str]) -> None:
    """protoc in-process; its plugins' chatter (a line per file) is shown only when it fails."""
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            code = protoc.main(["protoc", f"-I{PROTOS}", f"-I{GOOGLEAPIS}", f"-I{WELL_KNOWN}", *args])
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        if code != 0:
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            sys.exit(f"protoc failed ({code}): {' '.join(args[:3])} ...")


def strip_response_body(path: Path) -> None:
    """Envoy 1.40 refuses `response_body` unless it names an HttpBody field. The protos keep it
    (it is the contract); Envoy's copy loses it, and the service names the field in an
    `x-response-body` header that the gateway's Lua filter unwraps instead."""
    descriptors = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    http_body = f".{httpbody_pb2.HttpBody.DESCRIPTOR.full_name}"
    for file in descriptors.file:
        for service in file.service:
            for method in service.method:
                if method.output_type == http_body or not method.options.HasExtension(annotations_pb2.http):
                    continue
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in [rule, *rule.additional_bindings]:
                    binding.response_body = ""
    path.write_bytes(descriptors.SerializeToString())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pyi", action="store_true", help="skip the .pyi type stubs (mypy-protobuf)")
    parser.add_argument("--no-pth", action="store_true", help="do not write the .pth into site-packages")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    shutil.rmtree(OUT_PY, ignore_errors=True)
    OUT_PY.mkdir(parents=True)
    DESCRIPTOR_SET.parent.mkdir(parents=True, exist_ok=True)
    stubs = [
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={OUT_PY}",
        f"--mypy_grpc_out={OUT_PY}",
    ]
    run_protoc(
        [
            f"--python_out={OUT_PY}",
            f"--grpc_python_out={OUT_PY}",
            *([] if args.no_pyi else stubs),
            *sources,
        ]
    )
    run_protoc(
        [
            f"--descriptor_set_out={DESCRIPTOR_SET}",
            "--include_imports",
            "--include_source_info",
            *sources,
            *EXTRA_FOR_ENVOY,
        ]
    )
    shutil.copyfile(DESCRIPTOR_SET, CONTRACT_SET)  # before Envoy's copy loses response_body
    strip_response_body(DESCRIPTOR_SET)
    for package_dir in OUT_PY.rglob("*"):
        if package_dir.is_dir():
            (package_dir / "py.typed").touch()
    if not args.no_pth:
        pth = Path(site.getsitepackages()[0]) / "taskmanager_protos.pth"
        pth.write_text(f"{OUT_PY}\n")
    print(
        f"generated {len(sources)} protos -> {OUT_PY.relative_to(ROOT)}, {DESCRIPTOR_SET.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
