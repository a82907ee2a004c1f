"""Read benchmark: ``GET /v1/profiles/{user_id}`` of profilestore against a bare FastAPI peer.

One run: create a uniquely named PostgreSQL database, migrate it, COPY in N profiles, start
profilestore (2 workers) and the bare peer (``bench/bare_peer.py``, 2 workers), drive each in turn
with ``wrk`` picking random ids, print a table and write the figures as JSON under
``bench/results/``. Everything is torn down at the end, whatever happens.

    .venv/bin/python bench/profiles_read.py            # full run (100,000 rows, 3 x 15 s each)
    .venv/bin/python bench/profiles_read.py --quick    # smoke run (10,000 rows, 2 x 5 s each)

See bench/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import jwt

from profilestore.migrations import runner

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BIN = Path(sys.executable).parent
RESULTS_DIR = BENCH_DIR / "results"
TARGET_RATIO = 0.8
JWT_SECRET = "bench-secret-" + "0123456789abcdef" * 3  # >= 32 bytes for HS256

PEER = "bare"
PROFILESTORE = "profilestore"
PROFILESTORE_INFO = "profilestore-info"

COLUMNS = (
    "user_id",
    "username",
    "display_name",
    "bio",
    "avatar_url",
    "status",
    "last_seen",
    "locale",
    "timezone",
    "preferences",
    "created_at",
    "updated_at",
    "version",
)
STATUSES = ("online", "offline", "away", "busy")
LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "ja-JP", "pt-BR", None)
TIMEZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo", "UTC", None)
BIOS = (
    None,
    "",
    "Coffee, code and long walks.",
    "Product designer. Opinions are my own and change often.",
    "Runner, reader, occasional photographer. Building things for the web since 2009; "
    "currently into distributed systems, sourdough and very slow travel.",
)
PREFERENCES = (
    "{}",
    '{"theme": "dark"}',
    '{"theme": "light", "notifications": {"email": true, "push": false}}',
    '{"language": "de", "digest": "weekly", "muted_channels": ["general", "random"]}',
)


# --------------------------------------------------------------------------------- database


async def _admin(args: argparse.Namespace, sql: str) -> None:
    conn = await asyncpg.connect(
        host=args.pg_host, port=args.pg_port, user=args.pg_user, database="postgres", timeout=10
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def profile_records(count: int, seed: int) -> list[tuple[Any, ...]]:
    """``count`` plausible profiles, reproducible from ``seed``."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    records = []
    for index in range(count):
        user_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        created = now - dt.timedelta(seconds=rng.randrange(2 * 365 * 86400))
        updated = created + (now - created) * rng.random()
        last_seen = None if rng.random() < 0.2 else now - dt.timedelta(seconds=rng.randrange(86400))
        records.append(
            (
                user_id,
                f"user_{index:07d}",
                None if rng.random() < 0.1 else f"User {index}",
                rng.choice(BIOS),
                None if rng.random() < 0.3 else f"https://cdn.example.com/a/{user_id.hex}.png",
                rng.choice(STATUSES),
                last_seen,
                rng.choice(LOCALES),
                rng.choice(TIMEZONES),
                rng.choice(PREFERENCES),
                created,
                updated,
                1,
            )
        )
    return records


async def load_profiles(dsn: str, count: int, sample: int, seed: int) -> list[uuid.UUID]:
    """COPY ``count`` profiles in; return ``sample`` of their ids, chosen at random."""
    records = profile_records(count, seed)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.copy_records_to_table("profiles", records=records, columns=COLUMNS)
        await conn.execute("VACUUM (ANALYZE) profiles")
        loaded = await conn.fetchval("SELECT count(*) FROM profiles")
    finally:
        await conn.close()
    if loaded != count:
        raise RuntimeError(f"loaded {loaded} profiles, expected {count}")
    ids = [record[0] for record in records]
    return random.Random(seed + 1).sample(ids, min(sample, len(ids)))


# ---------------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    base: str
    path_prefix: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's whole process tree (supervisor and workers)."""
        return sum(_cpu_seconds(pid) for pid in _process_tree(self.process.pid))


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()  # fields from "state" on (comm may hold spaces)


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children[int(fields[1])].append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime + stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PROFILESTORE_", "BARE_"))}


def start_profilestore(
    name: str, url: str, workers: int, log_level: str, workdir: Path, pool_size: int
) -> Server:
    port = free_port()
    env = base_env() | {
        "PROFILESTORE_DATABASE_URL": url,
        "PROFILESTORE_DATABASE_POOL_SIZE": str(pool_size),
        "PROFILESTORE_DATABASE_MAX_OVERFLOW": "0",
        "PROFILESTORE_JWT_SECRET": JWT_SECRET,
        "PROFILESTORE_LOG_LEVEL": log_level,
        "PROFILESTORE_DATA_DIR": str(workdir / f"{name}-var"),
        # Rate limiting stays on (its cost is part of the service's), with a quota the load
        # generator's single admin token cannot reach; the relay is not part of a read.
        "PROFILESTORE_RATE_LIMIT_ADMIN_PER_MINUTE": str(10**9),
        "PROFILESTORE_RELAY_IN_PROCESS": "false",
    }
    command = [
        str(BIN / "profilestore"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-migrate",
    ]
    return _spawn(name, command, env, port, "/v1/profiles/", workdir)


def start_peer(dsn: str, workers: int, workdir: Path, pool_size: int) -> Server:
    port = free_port()
    env = base_env() | {"BARE_PEER_DSN": dsn, "BARE_PEER_POOL_SIZE": str(pool_size)}
    # The flags profilestore's `serve` passes to uvicorn.run(): no access log, no proxy
    # headers, default (auto) loop and HTTP implementation, i.e. uvloop and httptools.
    command = [
        str(BIN / "uvicorn"),
        "bare_peer:create_app",
        "--factory",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--no-proxy-headers",
        "--log-level",
        "warning",
    ]
    return _spawn(PEER, command, env, port, "/profiles/", workdir)


def _spawn(
    name: str, command: list[str], env: dict[str, str], port: int, prefix: str, workdir: Path
) -> Server:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() can reach the workers
        )
    return Server(name, f"http://127.0.0.1:{port}", prefix, process, log_path)


def wait_healthy(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n{_tail(server.log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{server.base}/health", timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer /health in {timeout:.0f}s")


def stop(server: Server) -> None:
    """SIGTERM (uvicorn stops its workers), then SIGKILL the process group if still alive."""
    process = server.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print(f"  {server.name} ignored SIGTERM: SIGKILL", file=sys.stderr)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # stray workers, if any
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def fetch(server: Server, user_id: uuid.UUID | str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{server.base}{server.path_prefix}{user_id}",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def sanity_check(servers: list[Server], user_id: uuid.UUID, token: str) -> None:
    """Every target answers 200 with the same document for a loaded id, and 404 for another."""
    bodies = {}
    for server in servers:
        status, body = fetch(server, user_id, token)
        if status != 200:
            raise RuntimeError(f"{server.name}: GET {user_id} answered {status}: {body!r}")
        bodies[server.name] = body
        missing, _ = fetch(server, uuid.uuid4(), token)
        if missing != 404:
            raise RuntimeError(f"{server.name}: GET <unknown id> answered {missing}, not 404")
    reference = bodies[servers[0].name]
    for name, body in bodies.items():
        if body != reference:
            print(
                f"WARNING: {name} answers a different document than {servers[0].name}:\n"
                f"  {body}\n  {reference}",
                file=sys.stderr,
            )


# -------------------------------------------------------------------------------------- wrk

LUA_TEMPLATE = """-- generated by bench/profiles_read.py: GET <prefix><random id>, bearer token
local prefix = {prefix}
local ids_file = {ids_file}
local headers = {{ ["Authorization"] = {authorization} }}
local requests = {{}}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
  for line in io.lines(ids_file) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("GET", prefix .. line, headers)
    end
  end
end

function request()
  return requests[math.random(#requests)]
end
"""


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_lua(workdir: Path, ids_file: Path, prefix: str, token: str) -> Path:
    script = workdir / f"read{prefix.replace('/', '_')}.lua"
    script.write_text(
        LUA_TEMPLATE.format(
            prefix=_lua_string(prefix),
            ids_file=_lua_string(str(ids_file)),
            authorization=_lua_string(f"Bearer {token}"),
        )
    )
    return script


@dataclass
class WrkResult:
    target: str
    round: int
    requests_per_second: float
    requests: int
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    server_cpu_seconds: float
    cpu_us_per_request: float
    wall_seconds: float
    raw: str = field(repr=False)

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """The figures of ``wrk --latency`` text output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    if rps is None or total is None:
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    percentiles = {
        int(m.group(1)): _to_ms(m.group(2))
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE)
    }
    if set(percentiles) != {50, 75, 90, 99}:
        raise RuntimeError(f"no latency distribution in wrk output (--latency?):\n{output}")
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_second": float(rps.group(1)),
        "requests": int(total.group(1)),
        "p50_ms": percentiles[50],
        "p75_ms": percentiles[75],
        "p90_ms": percentiles[90],
        "p99_ms": percentiles[99],
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": dict(
            zip(
                ("connect", "read", "write", "timeout"),
                (int(g) for g in sockets.groups()) if sockets else (0, 0, 0, 0),
                strict=True,
            )
        ),
    }


def run_wrk(
    wrk: str,
    server: Server,
    script: Path,
    args: argparse.Namespace,
    duration: float,
    round_number: int,
) -> WrkResult:
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration:g}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        server.base,
    ]
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    wall = time.monotonic() - started
    cpu = server.cpu_seconds() - cpu_before
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    figures = parse_wrk(done.stdout)
    return WrkResult(
        target=server.name,
        round=round_number,
        server_cpu_seconds=round(cpu, 3),
        cpu_us_per_request=round(cpu / figures["requests"] * 1e6, 1) if figures["requests"] else 0,
        wall_seconds=round(wall, 2),
        raw=done.stdout,
        **figures,
    )


def wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (
        (done.stdout or done.stderr).splitlines()[0].strip() if done.stdout or done.stderr else ""
    )


# ---------------------------------------------------------------------------------- py-spy


def profile_with_py_spy(
    py_spy: str, wrk: str, server: Server, script: Path, args: argparse.Namespace, stem: str
) -> dict[str, Any]:
    """Sample the profilestore workers while wrk drives them: collapsed stacks + a summary.

    The collapsed ("raw") stacks open in speedscope or ``flamegraph.pl`` as they are.
    """
    raw_path = RESULTS_DIR / f"{stem}-py-spy-{server.name}.txt"
    duration = max(6, int(args.duration))
    RESULTS_DIR.mkdir(exist_ok=True)
    recorder = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(server.process.pid),
            "--subprocesses",
            "--rate",
            str(args.py_spy_rate),
            "--duration",
            str(duration),
            "--format",
            "raw",
            "--nolineno",
            "--output",
            str(raw_path),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # let py-spy attach before the load starts
    run_wrk(wrk, server, script, args, duration - 2, round_number=0)
    _, err = recorder.communicate(timeout=60)
    if recorder.returncode != 0 or not raw_path.exists():
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')}")
    return {
        "collapsed_stacks": str(raw_path.relative_to(ROOT)),
        **summarize_collapsed(raw_path.read_text()),
    }


def summarize_collapsed(text: str, top: int = 30) -> dict[str, Any]:
    """Inclusive and self share of each frame in py-spy's collapsed ("raw") output.

    Frames are reduced to ``function (file)``; idle samples (the event loop waiting in
    ``select``/``epoll``) are counted apart so the shares are of busy time.
    """
    inclusive: dict[str, int] = defaultdict(int)
    self_time: dict[str, int] = defaultdict(int)
    total = idle = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";")[1:]]  # [0] is the process
        total += count
        if frames and any(
            idle_frame in frames[-1] for idle_frame in ("select", "poll", "run_once")
        ):
            idle += count
            continue
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            self_time[frames[-1]] += count
    busy = max(total - idle, 1)

    def ranked(table: dict[str, int]) -> list[dict[str, Any]]:
        best = sorted(table.items(), key=lambda item: item[1], reverse=True)[:top]
        return [{"frame": name, "percent_of_busy": round(100 * n / busy, 1)} for name, n in best]

    return {
        "samples": total,
        "idle_samples": idle,
        "top_inclusive": ranked(inclusive),
        "top_self": ranked(self_time),
    }


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)".
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if match is None:
        return frame
    function, path = match.groups()
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{function} ({path})"


# ---------------------------------------------------------------------------------- summary


def summarize(results: list[WrkResult], targets: list[str]) -> dict[str, dict[str, Any]]:
    summary = {}
    for target in targets:
        runs = [r for r in results if r.target == target]
        best = max(runs, key=lambda r: r.requests_per_second)
        summary[target] = {
            "rounds": len(runs),
            "rps_best": best.requests_per_second,
            "rps_median": round(statistics.median(r.requests_per_second for r in runs), 1),
            "rps_all": [r.requests_per_second for r in runs],
            "p50_ms_best_run": best.p50_ms,
            "p99_ms_best_run": best.p99_ms,
            "p50_ms_median": round(statistics.median(r.p50_ms for r in runs), 3),
            "p99_ms_median": round(statistics.median(r.p99_ms for r in runs), 3),
            "cpu_us_per_request_median": round(
                statistics.median(r.cpu_us_per_request for r in runs), 1
            ),
            "errors": sum(r.errors for r in runs),
        }
    return summary


def print_table(summary: dict[str, dict[str, Any]]) -> None:
    header = (
        f"{'target':<18} {'req/s best':>11} {'req/s med':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU us/req':>11} {'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    for target, row in summary.items():
        print(
            f"{target:<18} {row['rps_best']:>11.0f} {row['rps_median']:>10.0f} "
            f"{row['p50_ms_median']:>8.2f} {row['p99_ms_median']:>8.2f} "
            f"{row['cpu_us_per_request_median']:>11.0f} {row['errors']:>7}"
        )
    print("(p50/p99: median over rounds; CPU: server processes only, median over rounds)")


def ratios(summary: dict[str, dict[str, Any]]) -> dict[str, float]:
    peer, ours = summary[PEER], summary[PROFILESTORE]
    out = {
        "rps_best": round(ours["rps_best"] / peer["rps_best"], 3),
        "rps_median": round(ours["rps_median"] / peer["rps_median"], 3),
        "cpu_per_request": round(
            peer["cpu_us_per_request_median"] / ours["cpu_us_per_request_median"], 3
        ),
    }
    if PROFILESTORE_INFO in summary:
        out["info_logging_rps_vs_warning"] = round(
            summary[PROFILESTORE_INFO]["rps_median"] / ours["rps_median"], 3
        )
    return out


# ------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 rows, 2 x 5 s")
    parser.add_argument("--rows", type=int, help="profiles to load (default 100000; quick 10000)")
    parser.add_argument("--ids", type=int, default=10_000, help="ids wrk picks from (10000)")
    parser.add_argument("--duration", type=float, help="seconds per measured run (15; quick 5)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per target (5; quick 2)")
    parser.add_argument("--rounds", type=int, help="measured runs per target (3; quick 2)")
    parser.add_argument("--connections", "-c", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", "-t", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (2)")
    parser.add_argument(
        "--info",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run profilestore at LOG_LEVEL=INFO (default: on, off with --quick)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="py-spy binary: after measuring, sample profilestore's workers under load",
    )
    parser.add_argument("--py-spy-rate", type=int, default=250, help="py-spy samples/s (250)")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 3 if the best ratio is below {TARGET_RATIO}x"
    )
    parser.add_argument("--seed", type=int, default=20_26, help="data seed")
    parser.add_argument("--pg-host", default=os.environ.get("BENCH_PG_HOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("BENCH_PG_PORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("BENCH_PG_USER", "postgres"))
    args = parser.parse_args(argv)
    quick = args.quick
    args.rows = args.rows or (10_000 if quick else 100_000)
    args.duration = args.duration or (5.0 if quick else 15.0)
    args.warmup = args.warmup if args.warmup is not None else (2.0 if quick else 5.0)
    args.rounds = args.rounds or (2 if quick else 3)
    args.info = (not quick) if args.info is None else args.info
    args.ids = min(args.ids, args.rows)
    return args


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """SIGTERM to the benchmark unwinds like Ctrl-C, so the finally clauses clean up."""

    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print(
            "ERROR: the `wrk` HTTP benchmarking tool is not installed (Debian/Ubuntu: "
            "`apt-get install -y wrk`; macOS: `brew install wrk`).",
            file=sys.stderr,
        )
        return 2
    if args.py_spy and not shutil.which(args.py_spy):
        print(f"ERROR: py-spy not found at {args.py_spy!r}", file=sys.stderr)
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    db_name = f"ps_bench_{uuid.uuid4().hex[:12]}"
    dsn = f"postgresql://{args.pg_user}@{args.pg_host}:{args.pg_port}/{db_name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    servers: list[Server] = []
    created = False
    with terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="ps-bench-") as tmp:
        workdir = Path(tmp)
        try:
            asyncio.run(_admin(args, f'CREATE DATABASE "{db_name}"'))
            created = True
            print(f"database {db_name}: migrating, loading {args.rows:,} profiles...")
            started = time.monotonic()
            runner.upgrade(url)
            ids = asyncio.run(load_profiles(dsn, args.rows, args.ids, args.seed))
            load_seconds = time.monotonic() - started
            print(f"  migrated and loaded in {load_seconds:.1f}s; wrk picks from {len(ids):,} ids")
            ids_file = workdir / "ids.txt"
            ids_file.write_text("".join(f"{user_id}\n" for user_id in ids))
            token = jwt.encode(
                {"sub": "bench", "role": "admin", "iat": int(time.time()), "exp": 4_102_444_800},
                JWT_SECRET,
                algorithm="HS256",
            )
            return run_benchmark(args, wrk, stamp, db_name, dsn, url, ids, token, workdir, servers)
        except KeyboardInterrupt:
            print("interrupted: cleaning up", file=sys.stderr)
            return 130
        finally:
            for server in servers:
                stop(server)
            if created:
                asyncio.run(_admin(args, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
                print(f"dropped database {db_name}")


async def pool_size_per_worker(dsn: str, targets: int, workers: int, connections: int) -> int:
    """The same database pool for every server process: enough for its share of wrk's
    connections, within what PostgreSQL allows for all the servers running side by side."""
    conn = await asyncpg.connect(dsn)
    try:
        allowed = int(await conn.fetchval("SHOW max_connections")) - 10  # headroom: admin, us
        in_use = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
    finally:
        await conn.close()
    processes = targets * workers
    share = -(-connections // workers)  # wrk's connections to one target, per worker
    size = min(share, (allowed - in_use) // processes)
    if size < 1:
        raise RuntimeError(f"PostgreSQL has no room for {processes} connection pools")
    print(f"  database pool: {size} connections per server process (same for every target)")
    return size


def run_benchmark(
    args: argparse.Namespace,
    wrk: str,
    stamp: str,
    db_name: str,
    dsn: str,
    url: str,
    ids: list[uuid.UUID],
    token: str,
    workdir: Path,
    servers: list[Server],
) -> int:
    targets = 3 if args.info else 2
    pool = asyncio.run(pool_size_per_worker(dsn, targets, args.workers, args.connections))
    servers.append(start_peer(dsn, args.workers, workdir, pool))
    servers.append(start_profilestore(PROFILESTORE, url, args.workers, "WARNING", workdir, pool))
    if args.info:
        servers.append(
            start_profilestore(PROFILESTORE_INFO, url, args.workers, "INFO", workdir, pool)
        )
    for server in servers:
        wait_healthy(server)
    sanity_check(servers, ids[0], token)
    ids_file = workdir / "ids.txt"
    scripts = {s.name: write_lua(workdir, ids_file, s.path_prefix, token) for s in servers}
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency, "
        f"{args.rounds} rounds, targets alternate: {', '.join(s.name for s in servers)}; "
        f"{args.workers} workers each; {os.cpu_count()} CPUs"
    )
    load_before = os.getloadavg()
    if args.warmup > 0:
        for server in servers:
            run_wrk(wrk, server, scripts[server.name], args, args.warmup, round_number=0)
    results: list[WrkResult] = []
    for round_number in range(1, args.rounds + 1):
        for server in servers:
            result = run_wrk(wrk, server, scripts[server.name], args, args.duration, round_number)
            results.append(result)
            flag = "  <-- ERRORS" if result.errors else ""
            print(
                f"  round {round_number} {server.name:<18} {result.requests_per_second:>9.0f} req/s"
                f"  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
                f"  cpu {result.cpu_us_per_request:5.0f} us/req{flag}"
            )
    summary = summarize(results, [s.name for s in servers])
    ratio = ratios(summary)
    print()
    print_table(summary)
    verdict = "meets" if ratio["rps_best"] >= TARGET_RATIO else "BELOW"
    print(
        f"\nprofilestore / bare: {ratio['rps_best']:.2f}x (best req/s), "
        f"{ratio['rps_median']:.2f}x (median req/s), "
        f"{ratio['cpu_per_request']:.2f}x (CPU per request, bare/profilestore); "
        f"target >= {TARGET_RATIO}x: {verdict}"
    )
    if "info_logging_rps_vs_warning" in ratio:
        cost = 1 - ratio["info_logging_rps_vs_warning"]
        print(f"access logging at INFO costs {cost:.0%} of profilestore's median req/s")

    errors = [r for r in results if r.errors]
    if errors:
        bar = "!" * 78
        print(f"\n{bar}", file=sys.stderr)
        print("INVALID: non-2xx responses or socket errors during measurement:", file=sys.stderr)
        for r in errors:
            print(
                f"  {r.target} round {r.round}: non-2xx {r.non_2xx}, socket {r.socket_errors}",
                file=sys.stderr,
            )
        print("These figures do not measure successful reads. Logs:", file=sys.stderr)
        for server in servers:
            print(f"--- {server.name}\n{_tail(server.log_path, 15)}", file=sys.stderr)
        print(bar, file=sys.stderr)

    profile = None
    if args.py_spy:
        print(f"\nsampling {PROFILESTORE} with py-spy under load...")
        ours = next(s for s in servers if s.name == PROFILESTORE)
        profile = profile_with_py_spy(
            args.py_spy, wrk, ours, scripts[PROFILESTORE], args, f"profiles_read-{stamp}"
        )
        print(f"  collapsed stacks: {profile['collapsed_stacks']}")
        for entry in profile["top_inclusive"][:20]:
            print(f"  {entry['percent_of_busy']:5.1f}%  {entry['frame']}")

    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"profiles_read-{stamp}.json"
    document = {
        "benchmark": "profiles_read",
        "timestamp": stamp,
        "valid": not errors,
        "git_commit": _git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "python": sys.version.split()[0],
        },
        "config": {
            "rows": args.rows,
            "ids": len(ids),
            "wrk": wrk_version(wrk),
            "wrk_threads": args.threads,
            "wrk_connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "server_workers": args.workers,
            "database": db_name,
            "quick": args.quick,
        },
        "target_ratio": TARGET_RATIO,
        "ratios": ratio,
        "summary": summary,
        "runs": [{k: v for k, v in asdict(r).items() if k != "raw"} for r in results],
        "wrk_output": {f"{r.target}#{r.round}": r.raw for r in results},
        "py_spy": profile,
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")
    if errors:
        return 1
    if args.check and ratio["rps_best"] < TARGET_RATIO:
        return 3
    return 0


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()
    return None


if __name__ == "__main__":
    sys.exit(main())
