#!/usr/bin/env bash
# The contract's compatibility, offline. Run from the repository root with the virtualenv at .venv.
#   tools/contract.sh check    the protos as they are now break nothing of the last released
#                              contract (the newest protos/released/taskmanager-*.binpb), nor of
#                              main's protos when main has them (uncommitted and unmerged edits)
#   tools/contract.sh release  writes protos/released/taskmanager-$(cat VERSION).binpb, the
#                              descriptor set every later contract must stay compatible with; run
#                              it when VERSION is released. A released snapshot is never rewritten.
# A snapshot is a buf image without source info. buf compares one image with another (our workspace
# has two modules, the protos and the vendored googleapis), so the protos are built into one first.
set -euo pipefail

BUF=.venv/bin/buf
RELEASED=protos/released
if [[ ! -x $BUF || ! -f buf.yaml ]]; then
    echo "contract: run from the repository root, with the virtualenv at .venv (make venv)" >&2
    exit 2
fi

latest_release() {
    find "$RELEASED" -name 'taskmanager-*.binpb' 2>/dev/null | sort -V | tail -n 1
}

case "${1:-}" in
check)
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$BUF" build --exclude-source-info -o "$work/current.binpb"
    baseline=$(latest_release)
    if [[ -z $baseline ]]; then
        echo "contract: no released contract in $RELEASED (tools/contract.sh release)" >&2
        exit 1
    fi
    echo "buf breaking against the released contract $baseline"
    "$BUF" breaking "$work/current.binpb" --against "$baseline"
    if git cat-file -e main:protos 2>/dev/null; then
        echo "buf breaking against main"
        "$BUF" breaking --against '.git#branch=main'
    else
        echo "buf breaking: main has no protos yet"
    fi
    ;;
release)
    version=$(tr -d '[:space:]' <VERSION)
    target="$RELEASED/taskmanager-$version.binpb"
    if [[ -e $target ]]; then
        echo "contract: $target exists; a released contract is never rewritten (bump VERSION)" >&2
        exit 1
    fi
    mkdir -p "$RELEASED"
    "$BUF" build --exclude-source-info -o "$target"
    echo "wrote $target"
    ;;
*)
    echo "usage: tools/contract.sh check|release" >&2
    exit 2
    ;;
esac
