"""`make run`: start the whole system, print the gateway URL, stop everything on Ctrl-C/SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import time

from tm_devstack.stack import Stack, StackConfig, terminate_with_parent


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devstack %(message)s")
    started = time.monotonic()
    config = StackConfig.from_env()
    stack = Stack(config)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            print("\nstopping Task Manager ...", flush=True)
            stack.stop()
            sys.exit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    terminate_with_parent()  # `make run` killed: make does not forward signals to us
    stack.start()
    print(
        f"\nTask Manager is up in {time.monotonic() - started:.1f}s: {stack.gateway_url}\n"
        f"  data: {config.data_dir}   logs: {stack.log_dir}\n"
        f"  try:  curl {stack.gateway_url}/health\n"
        "  Ctrl-C stops everything.\n",
        flush=True,
    )
    code = stack.wait()
    if not stopping:
        sys.exit(f"supervisord exited unexpectedly ({code}); see {stack.log_dir}/supervisord.log")


if __name__ == "__main__":
    main()
