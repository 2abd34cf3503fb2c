"""`make run`: start the whole system, print the gateway URL, stop everything on Ctrl-C/SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import time

from tm_devstack.stack import Stack, StackConfig, terminate_with_parent


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devstack %(message)s")
    t0 = time.monotonic()
    config = StackConfig.from_env()
    stack = Stack(config)
    started = stopping = False

    def on_signal(signum: int, frame: object) -> None:
        # Only request the stop: the main thread is inside Popen.wait() on supervisord, and
        # waiting on it again from here would deadlock on Popen's waitpid lock.
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("\nstopping Task Manager ...", flush=True)
        if not started:
            raise SystemExit(1)  # Stack.start() stops what it had started
        stack.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    terminate_with_parent()  # `make run` killed: make does not forward signals to us
    stack.start()
    started = True
    print(
        f"\nTask Manager is up in {time.monotonic() - t0:.1f}s: {stack.gateway_url}\n"
        f"  data: {config.data_dir}   logs: {stack.log_dir}\n"
        + (f"  {config.replicas} instances of every service (REPLICAS)\n" if config.replicas > 1 else "")
        + f"  try:  curl {stack.gateway_url}/health   docs: {stack.gateway_url}/docs\n"
        f"  metrics (Prometheus text): envoy {stack.gateway_stats_url}\n"
        + "".join(f"    {name:<8} {url}\n" for name, url in stack.metrics_urls().items())
        + _traces_line(stack)
        + "  Ctrl-C stops everything.\n",
        flush=True,
    )
    code = stack.wait()
    if not stopping:
        sys.exit(f"supervisord exited unexpectedly ({code}); see {stack.log_dir}/supervisord.log")
    print("stopped.", flush=True)


def _traces_line(stack: Stack) -> str:
    if not stack.config.tracing:
        return "  traces: off (OTEL_SDK_DISABLED)\n"
    return (
        f"  traces (OTLP JSON, {stack.config.trace_sample_ratio:g} of requests): "
        f"{stack.log_dir}/*.spans.jsonl   one request: grep -h <trace_id> {stack.log_dir}/*.spans.jsonl\n"
    )


if __name__ == "__main__":
    main()
