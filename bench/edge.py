"""Cached 1 MB segments to 100 concurrent clients: the StreamVerse live edge vs nginx, same run.

Both serve the same N segment files written to a temp dir: nginx (Debian package) from disk
with sendfile, the StreamVerse edge from its PoP's in-memory EdgeCache after pre-warming it
from those files, behind a gateway-style signed path (`/t/{exp}/{sig}/videos/...`, verified
with one HMAC). Each server runs in its own process with the same number of workers; `wrk`
loads each with the same connections, threads and duration, rotating over every segment.
Runs alternate (nginx, edge, edge, nginx, ...) and the medians are reported.

Before measuring, one response from each server is compared byte-for-byte with the file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POP = "ashburn-1"
KEY = b"bench-edge-secret-" + b"x" * 32
VIDEO = "videos/1/720p"

WRK_LUA = """
local paths = {}
local n = 0
for line in io.lines("%(paths)s") do n = n + 1; paths[n] = line end
local i = 0
init = function(args) i = math.random(n) - 1 end
request = function()
  i = (i %% n) + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, "p99_us": %%d, '
    .. '"errors_status": %%d, "errors_connect": %%d, "errors_read": %%d, "errors_timeout": %%d, '
    .. '"bytes": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.timeout, summary.bytes))
end
"""

NGINX_CONF = """
worker_processes %(workers)d;
daemon off;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  open_file_cache max=1000 inactive=60s;
  types { video/mp2t ts; application/vnd.apple.mpegurl m3u8; }
  default_type application/octet-stream;
  client_body_temp_path %(tmp)s/body;
  proxy_temp_path %(tmp)s/proxy;
  fastcgi_temp_path %(tmp)s/fastcgi;
  uwsgi_temp_path %(tmp)s/uwsgi;
  scgi_temp_path %(tmp)s/scgi;
  server {
    listen 127.0.0.1:%(port)d reuseport;
    root %(root)s;
  }
}
"""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Block until something accepts on `port` (or the server died)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


# -- the StreamVerse edge worker (a child process) ---------------------------------------------
def serve_edge(root: Path, port: int, segments: int) -> None:
    """Run one edge worker: a Platform whose PoP cache is pre-warmed from the files, on `port`."""
    import uvloop

    from streamverse.clock import RealClock
    from streamverse.platform.live.edge_server import start_edge_servers
    from streamverse.platform.metrics import PlatformMetrics
    from streamverse.platform.service import Platform
    from streamverse.platform.topology import load_topology

    def source(key: str) -> bytes | None:
        path = root / key
        return path.read_bytes() if path.is_file() else None

    async def main() -> None:
        metrics = PlatformMetrics()
        platform = Platform(topology=load_topology(), clock=RealClock(), pop_cache_bytes=2 << 30,
                            shield_cache_bytes=2 << 30, origin_source=source, metrics=metrics)
        items = [(f"{VIDEO}/seg_{i:05d}.ts", (root / VIDEO / f"seg_{i:05d}.ts").stat().st_size)
                 for i in range(segments)]
        platform.prewarm(items, pops=[POP])
        edges = await start_edge_servers(platform, host="127.0.0.1", ports={POP: port}, key=KEY,
                                         metrics=metrics, reuse_port=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
        await edges.stop()

    uvloop.run(main())


def start_edge(root: Path, port: int, segments: int, workers: int) -> list[subprocess.Popen[bytes]]:
    """`workers` edge processes sharing the port with SO_REUSEPORT."""
    procs = [subprocess.Popen([sys.executable, __file__, "--serve-edge", str(root), "--port", str(port),
                               "--segments", str(segments)]) for _ in range(workers)]
    for p in procs:
        wait_port(port, p, timeout=30.0)
    time.sleep(0.5 if workers > 1 else 0.1)  # let every worker finish pre-warming and bind
    return procs


def start_nginx(tmp: Path, root: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    """nginx with its own config, pid file and temp paths, in the foreground."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF % {"workers": workers, "tmp": tmp, "port": port, "root": root})
    proc = subprocess.Popen([binary, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "nginx-error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(port, proc)
    return proc


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the servers this bench started (by their pid) and reap them."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_wrk(base: str, paths_file: Path, lua: Path, *, connections: int, threads: int,
            seconds: float) -> dict[str, float]:
    """One wrk run; requests/s and latency percentiles in ms from the Lua done() hook."""
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, int(seconds))}s",
                          "--timeout", "10s", "-s", str(lua), base + "/"],
                         capture_output=True, text=True, check=True)
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("{"))
    r = json.loads(line)
    errors = r["errors_status"] + r["errors_connect"] + r["errors_read"] + r["errors_timeout"]
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1000,
            "p95_ms": r["p95_us"] / 1000, "p99_ms": r["p99_us"] / 1000, "errors": errors,
            "gbps": r["bytes"] * 8 / (r["duration_us"] / 1e6) / 1e9}


def verify(url: str, expected: bytes) -> None:
    """Byte-for-byte check of one response before measuring anything."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = resp.read()
    if body != expected:
        raise SystemExit(f"{url}: body differs from the file ({len(body)} vs {len(expected)} bytes)")


def bench(args: argparse.Namespace) -> dict[str, object]:
    from streamverse.platform.url_signing import sign_prefix

    seconds = 3.0 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    with tempfile.TemporaryDirectory(prefix="sv-bench-edge-") as tmpdir:
        tmp = Path(tmpdir)
        tmp.chmod(0o755)  # nginx workers started by root run as an unprivileged user
        root = tmp / "www"
        (root / VIDEO).mkdir(parents=True)
        files = {}
        for i in range(args.segments):  # distinct bytes per file, so a mix-up cannot pass verification
            data = (f"segment {i:05d} ".encode() * (args.segment_bytes // 14 + 1))[:args.segment_bytes]
            (root / VIDEO / f"seg_{i:05d}.ts").write_bytes(data)
            files[i] = data
        token = sign_prefix("videos/1/", key=KEY, expires_at=int(time.time()) + 86400)
        edge_paths = tmp / "edge_paths.txt"
        edge_paths.write_text("".join(f"{token}720p/seg_{i:05d}.ts\n" for i in range(args.segments)))
        nginx_paths = tmp / "nginx_paths.txt"
        nginx_paths.write_text("".join(f"/{VIDEO}/seg_{i:05d}.ts\n" for i in range(args.segments)))
        lua_edge, lua_nginx = tmp / "edge.lua", tmp / "nginx.lua"
        lua_edge.write_text(WRK_LUA % {"paths": edge_paths})
        lua_nginx.write_text(WRK_LUA % {"paths": nginx_paths})

        edge_port, nginx_port = free_port(), free_port()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs += start_edge(root, edge_port, args.segments, args.workers)
            procs.append(start_nginx(tmp, root, nginx_port, args.workers))
            edge_base, nginx_base = f"http://127.0.0.1:{edge_port}", f"http://127.0.0.1:{nginx_port}"
            last = args.segments - 1
            verify(f"{edge_base}{token}720p/seg_{last:05d}.ts", files[last])
            verify(f"{nginx_base}/{VIDEO}/seg_{last:05d}.ts", files[last])
            kw = {"connections": args.connections, "threads": args.threads}
            # Warm-up (page cache, TCP buffers, allocator), not counted.
            run_wrk(edge_base, edge_paths, lua_edge, seconds=1, **kw)
            run_wrk(nginx_base, nginx_paths, lua_nginx, seconds=1, **kw)
            edge_runs, nginx_runs = [], []
            for r in range(rounds):
                order = ("nginx", "edge") if r % 2 == 0 else ("edge", "nginx")
                for which in order:
                    if which == "edge":
                        edge_runs.append(run_wrk(edge_base, edge_paths, lua_edge, seconds=seconds, **kw))
                    else:
                        nginx_runs.append(run_wrk(nginx_base, nginx_paths, lua_nginx, seconds=seconds, **kw))
                e, n = edge_runs[-1], nginx_runs[-1]
                print(f"round {r + 1}: edge {e['rps']:.0f} req/s p95 {e['p95_ms']:.1f} ms"
                      f" | nginx {n['rps']:.0f} req/s p95 {n['p95_ms']:.1f} ms", file=sys.stderr)
        finally:
            stop(procs)

    def med(runs: list[dict[str, float]], k: str) -> float:
        return round(statistics.median(x[k] for x in runs), 3)

    rps, nginx_rps = med(edge_runs, "rps"), med(nginx_runs, "rps")
    return {"rps": round(rps, 1), "p95_ms": med(edge_runs, "p95_ms"), "p50_ms": med(edge_runs, "p50_ms"),
            "p99_ms": med(edge_runs, "p99_ms"), "gbps": med(edge_runs, "gbps"),
            "nginx_rps": round(nginx_rps, 1), "nginx_p95_ms": med(nginx_runs, "p95_ms"),
            "nginx_p50_ms": med(nginx_runs, "p50_ms"), "nginx_p99_ms": med(nginx_runs, "p99_ms"),
            "nginx_gbps": med(nginx_runs, "gbps"),
            "ratio_vs_nginx": round(rps / nginx_rps, 3) if nginx_rps else None,
            "connections": args.connections, "wrk_threads": args.threads, "segment_bytes": args.segment_bytes,
            "segments": args.segments, "workers": {"edge": args.workers, "nginx": args.workers},
            "run_s": seconds, "rounds": rounds, "cpus": os.cpu_count(),
            "errors": {"edge": sum(x["errors"] for x in edge_runs),
                       "nginx": sum(x["errors"] for x in nginx_runs)},
            "edge_runs_rps": [round(x["rps"], 1) for x in edge_runs],
            "nginx_runs_rps": [round(x["rps"], 1) for x in nginx_runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (smoke run)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each timed run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians reported)")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1,
                        help="wrk threads (1 by default: on a 2-CPU machine one CPU loads, one serves)")
    parser.add_argument("--workers", type=int, default=1, help="server processes, the same for both")
    parser.add_argument("--segments", type=int, default=64)
    parser.add_argument("--segment-bytes", type=int, default=1_000_000)
    parser.add_argument("--serve-edge", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_edge is not None:
        serve_edge(args.serve_edge, args.port, args.segments)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    print(json.dumps(bench(args)))


if __name__ == "__main__":
    main()
