"""``aura serve``: the Prefect server, a runner serving the deployments, and the API.

    aura serve [--port 8000] [--host 127.0.0.1] [--prefect-port 4200] [--workers 1]
               [--no-runner]

1. A Prefect server (``prefect server start``), unless ``PREFECT_API_URL`` already points
   at one; its UI is then at ``http://HOST:PREFECT_PORT``.
2. A runner serving every deployment (``python -m deployments.serve``), which executes
   the flow runs that ``/api/export`` and the Prefect UI start; with ``--no-runner``
   none: the deployments of prefect.yaml are on a work pool, and its workers run them.
3. The API (uvicorn, ``api.app:create_app``) on ``HOST:PORT``; OpenAPI at ``/docs``.

Each runs as a child process in its own session, so that Ctrl-C (or SIGTERM) reaches
this supervisor alone, which then stops all three in reverse order and waits for them.
If any child ends by itself, the others are stopped too and the exit code says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from core.errors import AuraError
from flows.runs import RENDER_DEPLOYMENT

STARTUP_TIMEOUT_S = 180.0
"""How long the Prefect server and the API may take to answer their health checks."""
STOP_TIMEOUT_S = 10.0
"""How long children have to stop after each signal before the next, harder one."""
POLL_INTERVAL_S = 0.25


@dataclass
class Supervisor:
    """Child processes started in order and stopped in reverse order."""

    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen(command, env=env, start_new_session=True)
        self.children.append((name, process))
        return process

    def exited(self) -> tuple[str, int] | None:
        """The first child that has ended, and its exit code."""
        for name, process in self.children:
            if (code := process.poll()) is not None:
                return name, code
        return None

    def stop(self) -> None:
        """SIGINT (what Ctrl-C sends: Prefect's runner only stops cleanly on it), then
        SIGTERM, then SIGKILL, each after :data:`STOP_TIMEOUT_S` of waiting."""
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            running = [p for _name, p in reversed(self.children) if p.poll() is None]
            for process in running:
                _signal_group(process, signum)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            for process in running:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


class ServeError(AuraError):
    """A part of ``aura serve`` did not start."""


def wait_until_up(url: str, supervisor: Supervisor, what: str) -> None:
    """Poll ``url`` until it answers 200; fail if a child dies or time runs out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if (ended := supervisor.exited()) is not None:
            raise ServeError(f"{ended[0]} stopped (exit code {ended[1]}) while {what} "
                               "was starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(POLL_INTERVAL_S)
    raise ServeError(f"{what} did not answer at {url} within {STARTUP_TIMEOUT_S:.0f} s")


def studio_link(host: str, port: int) -> str:
    """The studio's address; on this machine's loopback (local single-user mode), a
    one-time link that signs its reader in (core/signin_link.py)."""
    from core.settings import get_settings
    from core.signin_link import issue_code

    url = f"http://{host}:{port}/"
    if not _is_loopback(host):
        return url
    return f"{url}#/link/{issue_code(get_settings())}  (signs you in, once)"


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(*, host: str, port: int, prefect_port: int, workers: int = 1,
          runner: bool = True) -> int:
    """Run the three parts until Ctrl-C or SIGTERM; returns the exit code."""
    import asyncio

    from api.app import prepare_database
    from models.schema import upgrade_database

    async def prepare() -> None:
        await upgrade_database()
        await prepare_database()

    asyncio.run(prepare())
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    supervisor = Supervisor()
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not env.get("PREFECT_API_URL"):
            supervisor.start("the Prefect server", [
                sys.executable, "-m", "prefect", "server", "start", "--host", host,
                "--port", str(prefect_port)], env)
            env["PREFECT_API_URL"] = f"http://{host}:{prefect_port}/api"
            wait_until_up(f"{env['PREFECT_API_URL']}/health", supervisor, "the Prefect server")
        if runner:
            supervisor.start("the runner", [sys.executable, "-m", "deployments.serve"], env)
            # Ready once its deployments exist: an export before that could not start.
            wait_until_up(f"{env['PREFECT_API_URL']}/deployments/name/{RENDER_DEPLOYMENT}",
                          supervisor, "the runner")
        supervisor.start("the API", [
            sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
            "--host", host, "--port", str(port), "--workers", str(workers),
            "--log-level", "warning"], env)
        wait_until_up(f"http://{host}:{port}/health", supervisor, "the API")
        ui = env["PREFECT_API_URL"].removesuffix("/api")
        print(f"AuraStudio       {studio_link(host, port)}\n"
              f"AuraStudio API   http://{host}:{port}/api  (OpenAPI: /docs)\n"
              f"Prefect UI       {ui}\n"
              "Ctrl-C stops all.", flush=True)
        while not stopping:
            if (ended := supervisor.exited()) is not None:
                print(f"aura serve: {ended[0]} stopped (exit code {ended[1]}); stopping "
                      "the rest", file=sys.stderr, flush=True)
                return 1
            time.sleep(POLL_INTERVAL_S)
        return 0
    finally:
        supervisor.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
