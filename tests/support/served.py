"""``aura serve`` in a subprocess, as a person starts it: a Prefect server, a runner and
the API (and the studio at ``/``) on free ports, with a home of its own.

    with aura_serve(tmp_path) as served:
        httpx.get(served.url + "/health")

It stops with one Ctrl-C (SIGINT) when the block ends, unless a test stopped it already.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.auth import MIN_SECRET_BYTES, mint_token
from tests.support.api import ADA

AURA = Path(sys.executable).with_name("aura")
SECRET = "e" * MIN_SECRET_BYTES
STARTUP_TIMEOUT_S = 300.0
READY_LINE = b"Ctrl-C stops all."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Served:
    def __init__(self, process: subprocess.Popen, port: int, prefect_port: int, log: Path):
        self.process, self.port, self.prefect_port, self.log = process, port, prefect_port, log
        self.url = f"http://127.0.0.1:{port}"

    def headers(self, user=ADA) -> dict[str, str]:  # noqa: ANN001
        return {"Authorization": f"Bearer {mint_token(user, SECRET)}"}


@contextmanager
def aura_serve(home: Path, **env: str) -> Iterator[Served]:
    """Start ``aura serve`` with its state under ``home``; extra ``env`` on top."""
    port, prefect_port = free_port(), free_port()
    environ = {**os.environ, "AURA_HOME": str(home / "aura"),
               "PREFECT_HOME": str(home / "prefect"), "AURA_JWT_SECRET": SECRET,
               "AURA_VIDEO__PRESET": "ultrafast", **env}
    for name in ("PREFECT_API_URL", "AURA_DATABASE_URL", "AURA_STORAGE", "AURA_STORAGE_DIR"):
        if name not in env:
            environ.pop(name, None)
    log = home / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(AURA), "serve", "--port", str(port), "--prefect-port",
                                    str(prefect_port)], env=environ, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    served = Served(process, port, prefect_port, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while READY_LINE not in log.read_bytes():
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "aura serve did not start in time"
            time.sleep(0.5)
        yield served
    finally:
        if process.poll() is None:  # a test failed before Ctrl-C: stop it the same way
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
