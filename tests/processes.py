"""Helpers for tests that start real ``sitrep`` processes: a free port, waiting for an answer."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import httpx
import pytest


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(
    process: subprocess.Popen[bytes], base_url: str, output: Callable[[], str], *,
    what: str, timeout: float,
) -> None:  # fmt: skip
    """Return once ``GET /healthz`` answers 200; fail with the process's output if it exits
    first or does not answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode} before answering:\n{output()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"GET /healthz did not answer 200 within {timeout}s:\n{output()}")
