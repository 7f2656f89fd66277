"""Benchmark: requests per second and latency of an authenticated GET of a project.

    .venv/bin/python bench/api.py [--url http://127.0.0.1:8000] [--connections 64]
                                  [--seconds 10] [--workers 2] [--database-url URL]

Without ``--url`` it starts ``aura serve`` in a fresh data folder (SQLite unless
``--database-url`` names an empty database; local storage) and stops it afterwards; the
rate limit is raised for the run (the limiter still counts every request), since one
user at 1,000 requests a second would otherwise get 429s.
With ``--url`` it measures a running ``aura serve`` (give ``--token``; the rate limit
applies as configured there).

The load comes from a lean HTTP/1.1 client (asyncio streams, keep-alive, one request in
flight per connection) in a process of its own, so that the client costs as little of
the machine's CPU as it can. Prints requests per second and the p50, p90, p99 latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH_RATE_LIMIT_PER_MINUTE = 10_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running aura serve; default: start one")
    parser.add_argument("--token", help="bearer token for --url")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="API workers (own server)")
    parser.add_argument("--database-url",
                        help="AURA_DATABASE_URL of the server it starts (default: SQLite in "
                             "a fresh folder), e.g. postgresql+asyncpg://postgres@127.0.0.1/b")
    args = parser.parse_args()

    server = None
    if args.url:
        if not args.token:
            sys.exit("bench: --url needs --token (aura token --user NAME)")
        url, token = args.url.rstrip("/"), args.token
    else:
        server, url, token = _start_server(args.workers, args.database_url)
    try:
        project_id = _make_project(url, token)
        path = f"/api/projects/{project_id}"
        _load(url, path, token, connections=4, seconds=2.0)  # warm up
        latencies_s, errors, wall_s = _load(url, path, token, connections=args.connections,
                                            seconds=args.seconds)
    finally:
        if server is not None:
            server.send_signal(2)
            server.wait(timeout=90)
    latencies_s.sort()
    n = len(latencies_s)

    def pct(p: float) -> float:
        return latencies_s[min(n - 1, int(p * n))] * 1000

    where = "" if args.url else (f", {args.workers} API workers on "
                                 f"{'PostgreSQL' if args.database_url else 'SQLite'}")
    print(f"GET {path} with a bearer token, {args.connections} connections, "
          f"{wall_s:.1f} s{where}")
    print(f"requests          {n:8d}   (non-200: {errors})")
    print(f"requests/s        {n / wall_s:8.0f}   (goal >= 1,000)")
    print(f"latency p50       {pct(0.50):8.1f} ms")
    print(f"latency p90       {pct(0.90):8.1f} ms")
    print(f"latency p99       {pct(0.99):8.1f} ms   (goal < 100 ms)")
    print(f"latency mean      {statistics.fmean(latencies_s) * 1000:8.1f} ms")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(workers: int, database_url: str | None,
                  ) -> tuple[subprocess.Popen, str, str]:
    home = Path(tempfile.mkdtemp(prefix="aura-bench-api-"))
    port = _free_port()
    secret = os.urandom(32).hex()
    env = {**os.environ, "AURA_HOME": str(home / "aura"), "PREFECT_HOME": str(home / "prefect"),
           "AURA_JWT_SECRET": secret,
           "AURA_RATE_LIMIT_PER_MINUTE": str(BENCH_RATE_LIMIT_PER_MINUTE)}
    env.pop("AURA_DATABASE_URL", None)
    if database_url:
        env["AURA_DATABASE_URL"] = database_url
    aura = Path(sys.executable).with_name("aura")
    log = (home / "serve.log").open("wb")
    server = subprocess.Popen([str(aura), "serve", "--port", str(port), "--prefect-port",
                               str(_free_port()), "--workers", str(workers)], env=env,
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while b"Ctrl-C stops all." not in (home / "serve.log").read_bytes():
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit("bench: aura serve did not start:\n"
                     + (home / "serve.log").read_text(errors="replace")[-2000:])
        time.sleep(0.5)
    sys.path.insert(0, str(ROOT))
    from core.auth import mint_token, user_id_for

    return server, f"http://127.0.0.1:{port}", mint_token(user_id_for("bench"), secret)


def _make_project(url: str, token: str) -> str:
    import httpx

    response = httpx.post(f"{url}/api/projects", headers={"Authorization": f"Bearer {token}"},
                          json={"title": "Bench", "script": "Hello there."}, timeout=30)
    response.raise_for_status()
    return response.json()["id"]


def _load(url: str, path: str, token: str, *, connections: int,
          seconds: float) -> tuple[list[float], int, float]:
    """Run the client in its own process; returns latencies, errors and wall seconds."""
    spec = json.dumps({"url": url, "path": path, "token": token,
                       "connections": connections, "seconds": seconds})
    out = subprocess.run([sys.executable, __file__, "--client", spec], capture_output=True,
                         text=True, check=True).stdout
    result = json.loads(out)
    return result["latencies_s"], result["errors"], result["wall_s"]


async def _client(spec: dict) -> dict:
    parts = urlsplit(spec["url"])
    request = (f"GET {spec['path']} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               f"Authorization: Bearer {spec['token']}\r\n\r\n").encode()
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + spec["seconds"]

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(spec["connections"])))
    return {"latencies_s": latencies, "errors": errors, "wall_s": time.perf_counter() - started}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        print(json.dumps(asyncio.run(_client(json.loads(sys.argv[2])))))
    else:
        main()
