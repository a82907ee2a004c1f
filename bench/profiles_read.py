"""Read benchmark: ``GET /v1/profiles/{user_id}`` of profilestore against two peers.

One run: create a uniquely named PostgreSQL database, migrate it, COPY in N profiles, start
profilestore (2 workers), the bare peer (``bench/bare_peer.py``, 2 workers) and PostGraphile 4
(``--cluster-workers 2``, installed with npm into ``bench/node/`` on first use; skipped without
node/npm), drive each in turn with ``wrk`` picking random ids, optionally measure profilestore
with an open-loop generator at a fixed arrival rate (``bench/open_loop.py``), print a table and
write the figures as JSON under ``bench/results/``. Everything is torn down at the end, whatever
happens.

    .venv/bin/python bench/profiles_read.py            # full run (100,000 rows, 3 x 15 s each)
    .venv/bin/python bench/profiles_read.py --quick    # smoke run (10,000 rows, 2 x 5 s each)
    .venv/bin/python bench/profiles_read.py --open-loop 1000   # + 30 s at 1000 req/s, open loop

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
PROFILESTORE_CACHED = "profilestore-cached"
PROFILESTORE_GRANIAN = "profilestore-cached-granian"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CACHED_TARGET_CPU_US = 150
POSTGRAPHILE = "postgraphile"

NODE_DIR = BENCH_DIR / "node"  # git-ignored (bench/.gitignore): npm installs PostGraphile here
POSTGRAPHILE_SPEC = "postgraphile@4"
POSTGRAPHILE_CLI = NODE_DIR / "node_modules" / "postgraphile" / "cli.js"

COLUMNS = (
    "user_id",
    "username",
    "display_name",
    "bio",
    "avatar_url",
    "last_seen",
    "locale",
    "timezone",
    "preferences",
    "created_at",
    "updated_at",
    "version",
)
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
    path_prefix: str  # REST: ids are appended to it; GraphQL: the endpoint
    process: subprocess.Popen[bytes]
    log_path: Path
    kind: str = "rest"  # or "graphql"
    workers: int = 1

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
    name: str,
    url: str,
    workers: int,
    log_level: str,
    workdir: Path,
    pool_size: int,
    *,
    cached: bool = False,
    gc_freeze: bool = True,
    granian: bool = False,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """profilestore on the benchmark's database. Several workers need Redis (presence and
    cache invalidations); ``cached=False`` turns the read cache off (the uncached read);
    ``extra_env`` adds or overrides settings (other benchmarks: e.g. the service role's quota)."""
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
        "PROFILESTORE_REDIS_URL": REDIS_URL,
        "PROFILESTORE_CACHE_PREFIX": f"psbench:{uuid.uuid4().hex}:",
        "PROFILESTORE_CACHE_ENABLED": "true" if cached else "false",
        "PROFILESTORE_GC_FREEZE": "true" if gc_freeze else "false",
        "PROFILESTORE_SERVE_WORKERS": str(workers),
    }
    env.update(extra_env or {})
    if granian:
        command = [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            "--factory",
            "--loop",
            "uvloop",
            "--no-ws",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "profilestore.app:create_app",
        ]
        return _spawn(name, command, env, port, "/v1/profiles/", workdir)
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


@dataclass
class NodeTool:
    node: str
    cli: Path
    version: str


def _postgraphile_version() -> str | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        package = json.loads((POSTGRAPHILE_CLI.parent / "package.json").read_text())
        return str(package["version"])
    return None


def ensure_postgraphile() -> NodeTool | None:
    """PostGraphile 4 under ``bench/node/`` (``npm install`` on first use), or None with a
    printed note when node or npm is missing or the install fails."""
    node = shutil.which("node")
    if node is None:
        print("NOTE: `node` not found: the postgraphile peer is skipped")
        return None
    version = _postgraphile_version()
    if version is None or not version.startswith("4.") or not POSTGRAPHILE_CLI.exists():
        npm = shutil.which("npm")
        if npm is None:
            print("NOTE: `npm` not found: the postgraphile peer is skipped")
            return None
        NODE_DIR.mkdir(exist_ok=True)
        package_json = NODE_DIR / "package.json"
        if not package_json.exists():
            package_json.write_text(
                json.dumps(
                    {
                        "name": "profilestore-bench-peers",
                        "private": True,
                        "description": "Peers of bench/profiles_read.py (git-ignored)",
                    },
                    indent=2,
                )
                + "\n"
            )
        print(f"installing {POSTGRAPHILE_SPEC} with npm into {NODE_DIR.relative_to(ROOT)}/ ...")
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(NODE_DIR),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                POSTGRAPHILE_SPEC,
            ],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        version = _postgraphile_version()
        if done.returncode != 0 or version is None or not POSTGRAPHILE_CLI.exists():
            print(
                f"NOTE: `npm install {POSTGRAPHILE_SPEC}` failed ({done.returncode}): the "
                f"postgraphile peer is skipped\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
            return None
    return NodeTool(node, POSTGRAPHILE_CLI, version)


def start_postgraphile(
    tool: NodeTool, dsn: str, workers: int, workdir: Path, pool_size: int
) -> Server:
    """PostGraphile 4 over the same database: its cluster master forks ``workers`` workers.

    No JWT secret (like the bare peer, no auth: it ignores the Authorization header), no query
    log, no GraphiQL, JSON columns as JSON (``--dynamic-json``), NODE_ENV=production."""
    port = free_port()
    env = base_env() | {"NODE_ENV": "production"}
    command = [
        tool.node,
        str(tool.cli),
        "--connection",
        dsn,
        "--schema",
        "public",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-pool-size",
        str(pool_size),
        "--dynamic-json",
        "--disable-query-log",
        "--disable-graphiql",
    ]
    if workers > 1:
        command += ["--cluster-workers", str(workers)]
    server = _spawn(POSTGRAPHILE, command, env, port, "/graphql", workdir)
    server.kind = "graphql"
    server.workers = workers
    return server


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
        if server.kind == "graphql":
            # Each cluster worker builds its schema and logs "... listening on port": wait for
            # all of them, or wrk's connections would all land on the first one up.
            listening = server.log_path.read_text(errors="replace").count("listening on port")
            if listening >= server.workers:
                with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
                    if graphql(server, "{ __typename }").get("data") is not None:
                        return
        else:
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


def gc_pauses(server: Server) -> dict[str, dict[str, float]]:
    """The garbage-collector pauses one worker of ``server`` recorded (its /metrics), by
    generation: count, total seconds, and how many took over 10 ms and over 50 ms."""
    with urllib.request.urlopen(f"{server.base}/metrics", timeout=5) as response:
        text = response.read().decode()
    found: dict[str, dict[str, float]] = defaultdict(dict)
    pattern = re.compile(
        r'^profilestore_gc_pause_seconds_(count|sum|bucket)\{(?:generation="(\d)")?,?'
        r'(?:generation="(\d)",)?(?:le="([^"]+)")?\} (\S+)$'
    )
    for line in text.splitlines():
        match = pattern.match(line)
        if match is None:
            continue
        kind, first, second, bound, value = match.groups()
        generation = first or second
        if kind == "bucket":
            found[generation][f"le {bound}"] = float(value)
        else:
            found[generation][kind] = float(value)
    summary = {}
    for generation, values in sorted(found.items()):
        count = values.get("count", 0.0)
        summary[generation] = {
            "count": count,
            "seconds": round(values.get("sum", 0.0), 3),
            "over_10ms": count - values.get("le 0.01", count),
            "over_50ms": count - values.get("le 0.05", count),
        }
    return summary


def read_batches(server: Server) -> dict[str, float]:
    """How many keys the batched profile queries of one worker of ``server`` carried (its
    /metrics, ``profilestore_read_batch_keys``): queries, keys, keys per query."""
    with urllib.request.urlopen(f"{server.base}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for kind in ("count", "sum"):
        match = re.search(
            rf'^profilestore_read_batch_keys_{kind}\{{batcher="profiles"\}} (\S+)$', text, re.M
        )
        values[kind] = float(match.group(1)) if match else 0.0
    queries, keys = values["count"], values["sum"]
    return {
        "queries": queries,
        "keys": keys,
        "keys_per_query": round(keys / queries, 2) if queries else 0.0,
    }


def sanity_check(servers: list[Server], user_id: uuid.UUID, token: str) -> None:
    """Every REST target answers 200 with the same document for a loaded id, and 404 for
    another (GraphQL targets: ``check_graphql``)."""
    servers = [s for s in servers if s.kind == "rest"]
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


# ---------------------------------------------------------------------------------- GraphQL


def graphql(
    server: Server, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    """POST one GraphQL query; the decoded answer (``data`` and maybe ``errors``)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{server.base}{server.path_prefix}",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers=headers,
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


@dataclass
class GraphqlRead:
    """The by-primary-key read of a GraphQL peer, as found by introspection."""

    field: str  # e.g. profileByUserId
    argument: str  # e.g. userId
    columns: dict[str, str]  # REST name -> GraphQL name, in the REST document's order
    query: str


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _type_ref(node: dict[str, Any]) -> str:
    if node["kind"] == "NON_NULL":
        return _type_ref(node["ofType"]) + "!"
    if node["kind"] == "LIST":
        return f"[{_type_ref(node['ofType'])}]"
    return str(node["name"])


_TYPE_REF = "kind name ofType { kind name ofType { kind name ofType { kind name } } }"
_QUERY_FIELDS = (
    '{ __type(name: "Query") { fields { name type { name } args { name type { '
    + _TYPE_REF
    + " } } } } }"
)
_TYPE_FIELDS = "query ($name: String!) { __type(name: $name) { fields { name } } }"


def introspect_read(server: Server, rest_columns: list[str]) -> GraphqlRead:
    """Find the Query field that reads one profile by ``user_id`` (PostGraphile 4 names it
    ``profileByUserId(userId: UUID!)``) and the names of the REST document's columns on it."""
    answer = graphql(server, _QUERY_FIELDS)
    if answer.get("errors") or not answer.get("data"):
        raise RuntimeError(f"{server.name}: introspection failed: {answer}")
    argument = _camel("user_id")
    fields = answer["data"]["__type"]["fields"]
    candidates = [
        f for f in fields if [a["name"] for a in f["args"]] == [argument] and f["type"]["name"]
    ]
    if not candidates:
        names = ", ".join(f["name"] for f in fields)
        raise RuntimeError(f"{server.name}: no Query field takes just `{argument}`: {names}")
    field_ = next((f for f in candidates if f["name"].startswith("profileBy")), candidates[0])
    type_name = field_["type"]["name"]
    answer = graphql(server, _TYPE_FIELDS, {"name": type_name})
    available = {f["name"] for f in answer["data"]["__type"]["fields"]}
    columns = {column: _camel(column) for column in rest_columns}
    missing = [f"{c} ({g})" for c, g in columns.items() if g not in available]
    if missing:
        raise RuntimeError(
            f"{server.name}: {type_name} has no field for {', '.join(missing)}; "
            f"it has {', '.join(sorted(available))}"
        )
    argument_type = _type_ref(field_["args"][0]["type"])
    query = (
        f"query ProfileRead($id: {argument_type}) "
        f"{{ {field_['name']}({argument}: $id) {{ {' '.join(columns.values())} }} }}"
    )
    return GraphqlRead(field_["name"], argument, columns, query)


def _same_value(rest: Any, other: Any) -> bool:
    if rest == other:
        return True
    if isinstance(rest, str) and isinstance(other, str):
        # Timestamps: "2026-01-02T03:04:05.123456Z" and "...05.123456+00:00" are one instant.
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(rest) == dt.datetime.fromisoformat(other)
    return False


def check_graphql(
    server: Server, reference: Server, ids: list[uuid.UUID], token: str
) -> GraphqlRead:
    """The GraphQL read returns the values profilestore's REST read returns, column by column,
    for a few loaded ids, and null (no errors) for an unknown id."""
    documents = {}
    for user_id in ids:
        status, body = fetch(reference, user_id, token)
        if status != 200:
            raise RuntimeError(f"{reference.name}: GET {user_id} answered {status}: {body!r}")
        documents[user_id] = body
    read = introspect_read(server, list(next(iter(documents.values()))))
    for user_id, document in documents.items():
        answer = graphql(server, read.query, {"id": str(user_id)}, token)
        row = (answer.get("data") or {}).get(read.field)
        if answer.get("errors") or row is None:
            raise RuntimeError(f"{server.name}: {read.field}({user_id}) answered {answer}")
        differences = [
            f"{column}: {document[column]!r} != {row[name]!r}"
            for column, name in read.columns.items()
            if not _same_value(document[column], row[name])
        ]
        if differences:
            raise RuntimeError(
                f"{server.name} and {reference.name} differ for {user_id}:\n  "
                + "\n  ".join(differences)
            )
    answer = graphql(server, read.query, {"id": str(uuid.uuid4())}, token)
    if answer.get("errors") or answer.get("data") != {read.field: None}:
        raise RuntimeError(f"{server.name}: {read.field}(<unknown id>) answered {answer}")
    print(
        f"  {server.name}: {read.field}({read.argument}:) returns {reference.name}'s values for "
        f"all {len(read.columns)} columns of {len(documents)} ids, null for an unknown id"
    )
    return read


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


GRAPHQL_LUA_TEMPLATE = """-- generated by bench/profiles_read.py: POST <path> a GraphQL read by id
local path = {path}
local ids_file = {ids_file}
local body_head = {body_head}
local body_tail = {body_tail}
local not_found = {not_found}
local headers = {{
  ["Authorization"] = {authorization},
  ["Content-Type"] = "application/json",
}}
local requests = {{}}
local threads = {{}}
graphql_errors = 0

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_number", #threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
  for line in io.lines(ids_file) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", path, headers, body_head .. line .. body_tail)
    end
  end
end

function request()
  return requests[math.random(#requests)]
end

-- GraphQL reports errors in a 200 answer: count those, and a null profile, as errors.
function response(status, headers, body)
  if string.find(body, '"errors"', 1, true) or string.find(body, not_found, 1, true) then
    graphql_errors = graphql_errors + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("graphql_errors") or 0)
  end
  io.write(string.format("GraphQL errors: %d\\n", total))
end
"""


def _lua_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


def write_graphql_lua(
    workdir: Path, ids_file: Path, server: Server, read: GraphqlRead, token: str
) -> Path:
    marker = "@@ID@@"
    body = json.dumps({"query": read.query, "variables": {"id": marker}}, separators=(",", ":"))
    head, tail = body.split(marker)
    script = workdir / f"read_{server.name}.lua"
    script.write_text(
        GRAPHQL_LUA_TEMPLATE.format(
            path=_lua_string(server.path_prefix),
            ids_file=_lua_string(str(ids_file)),
            body_head=_lua_string(head),
            body_tail=_lua_string(tail),
            not_found=_lua_string(json.dumps({read.field: None}, separators=(",", ":"))),
            authorization=_lua_string(f"Bearer {token}"),
        )
    )
    return script


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
    body_errors: int  # GraphQL: 200 answers carrying "errors" or a null profile
    server_cpu_seconds: float
    cpu_us_per_request: float
    wall_seconds: float
    raw: str = field(repr=False)

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values()) + self.body_errors


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
    body_errors = re.search(r"^GraphQL errors: (\d+)", output, re.MULTILINE)
    return {
        "requests_per_second": float(rps.group(1)),
        "requests": int(total.group(1)),
        "p50_ms": percentiles[50],
        "p75_ms": percentiles[75],
        "p90_ms": percentiles[90],
        "p99_ms": percentiles[99],
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "body_errors": int(body_errors.group(1)) if body_errors else 0,
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


# ------------------------------------------------------------------------------- open loop


def run_open_loop(
    server: Server, ids_file: Path, token: str, args: argparse.Namespace
) -> dict[str, Any]:
    """``bench/open_loop.py`` against a REST target: the same random ids and admin token as
    wrk's script, at a fixed arrival rate; adds the server's CPU per request."""
    rate, duration = args.open_loop, args.open_loop_duration
    print(
        f"\nopen loop: {server.name} at {rate:g} req/s for {duration:g} s over "
        f"{args.open_loop_connections} connections (latency from the scheduled send time)..."
    )
    command = [
        sys.executable,
        str(BENCH_DIR / "open_loop.py"),
        "--url",
        f"{server.base}{server.path_prefix}",
        "--ids-file",
        str(ids_file),
        "--header",
        f"Authorization: Bearer {token}",
        "--rate",
        f"{rate:g}",
        "--duration",
        f"{duration:g}",
        "--connections",
        str(args.open_loop_connections),
    ]
    cpu_before = server.cpu_seconds()
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    cpu = server.cpu_seconds() - cpu_before
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise RuntimeError(f"open_loop.py failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["target"] = server.name
    result["server_cpu_seconds"] = round(cpu, 3)
    result["server_cpu_us_per_request"] = (
        round(cpu / result["responses"] * 1e6, 1) if result["responses"] else None
    )
    lat, lag = result["latency_ms"], result["timer_lag_ms"]
    print(
        f"  achieved {result['achieved_rps']:.0f} req/s of {rate:g} scheduled; "
        f"p50 {lat['p50']} ms  p99 {lat['p99']} ms  p99.9 {lat['p99.9']} ms  "
        f"max {lat['max']} ms; errors {result['errors']}\n"
        f"  server CPU {result['server_cpu_us_per_request']} us/req; "
        f"{result['waited_for_connection']} requests found all connections busy "
        f"(wait p99 {result['connection_wait_ms']['p99']} ms)\n"
        f"  generator ({result['event_loop']}): CPU {result['generator_cpu_percent']}% of a "
        f"core, timer lag p50 {lag['p50']} ms p99 {lag['p99']} ms"
    )
    return result


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


def _versus(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, float]:
    """profilestore / peer for req/s; peer / profilestore for CPU per request (so > 1 is
    profilestore doing better in all three)."""
    return {
        "rps_best": round(ours["rps_best"] / peer["rps_best"], 3),
        "rps_median": round(ours["rps_median"] / peer["rps_median"], 3),
        "cpu_per_request": round(
            peer["cpu_us_per_request_median"] / ours["cpu_us_per_request_median"], 3
        ),
    }


def ratios(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Against the bare peer at the top level (the target is on ``rps_best``); against
    PostGraphile under ``vs_postgraphile`` when it ran."""
    ours = summary[PROFILESTORE]
    out: dict[str, Any] = _versus(ours, summary[PEER])
    if POSTGRAPHILE in summary:
        out["vs_postgraphile"] = _versus(ours, summary[POSTGRAPHILE])
    if PROFILESTORE_CACHED in summary:
        cached = summary[PROFILESTORE_CACHED]
        out["cached_vs_bare"] = _versus(cached, summary[PEER])
        if POSTGRAPHILE in summary:
            out["cached_vs_postgraphile"] = _versus(cached, summary[POSTGRAPHILE])
    if PROFILESTORE_INFO in summary:
        out["info_logging_rps_vs_warning"] = round(
            summary[PROFILESTORE_INFO]["rps_median"] / ours["rps_median"], 3
        )
    return out


def print_cached(summary: dict[str, dict[str, Any]], ratio: dict[str, Any]) -> None:
    """The cached read against the peers, and its server CPU per request."""
    if "cached_vs_bare" not in ratio:
        return
    cpu = summary[PROFILESTORE_CACHED]["cpu_us_per_request_median"]
    verdict = "meets" if cpu <= CACHED_TARGET_CPU_US else "ABOVE"
    versus = ratio["cached_vs_bare"]
    print(
        f"profilestore-cached / bare: {versus['rps_best']:.2f}x (best), "
        f"{versus['rps_median']:.2f}x (median req/s); server CPU {cpu:.0f} us/request "
        f"(target <= {CACHED_TARGET_CPU_US}: {verdict})"
    )
    if "cached_vs_postgraphile" in ratio:
        versus = ratio["cached_vs_postgraphile"]
        print(
            f"profilestore-cached / postgraphile: {versus['rps_best']:.2f}x (best), "
            f"{versus['rps_median']:.2f}x (median req/s)"
        )


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
        "--py-spy-target",
        choices=(PROFILESTORE, PROFILESTORE_CACHED),
        default=PROFILESTORE_CACHED,
        help=f"the target py-spy samples ({PROFILESTORE_CACHED})",
    )
    parser.add_argument(
        "--database-role",
        metavar="ROLE",
        help="run the profilestore targets as this role (row-level security: profilestore_app)",
    )
    parser.add_argument(
        "--granian",
        action="store_true",
        help="also run the cached read under granian (pip install granian) instead of uvicorn",
    )
    parser.add_argument(
        "--gc-freeze",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="PROFILESTORE_GC_FREEZE for the profilestore targets (default on)",
    )
    parser.add_argument(
        "--postgraphile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run PostGraphile 4 (npm install into bench/node/ on first use; default on,\n"
        "skipped with a note without node/npm)",
    )
    parser.add_argument(
        "--open-loop",
        type=float,
        metavar="RATE",
        help="after the wrk rounds, drive profilestore at RATE req/s, open loop\n"
        "(bench/open_loop.py: latency from the scheduled send time)",
    )
    parser.add_argument(
        "--open-loop-duration", type=float, help="seconds of open-loop arrivals (30; quick 5)"
    )
    parser.add_argument(
        "--open-loop-connections", type=int, default=64, help="open-loop connections (64)"
    )
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
    args.open_loop_duration = args.open_loop_duration or (5.0 if quick else 30.0)
    if args.granian and not (BIN / "granian").exists():
        parser.error("--granian needs granian in the venv: .venv/bin/pip install granian")
    if args.open_loop is not None and args.open_loop <= 0:
        parser.error("--open-loop RATE must be positive")
    args.ids = min(args.ids, args.rows)
    return args


def mint_token(subject: str = "bench", role: str = "admin") -> str:
    """A bearer token the servers accept (HS256 with ``JWT_SECRET``), for ``role``."""
    claims = {"sub": subject, "role": role, "iat": int(time.time()), "exp": 4_102_444_800}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


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
    postgraphile = ensure_postgraphile() if args.postgraphile else None
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
            token = mint_token()
            return run_benchmark(
                args, wrk, postgraphile, stamp, db_name, dsn, url, ids, token, workdir, servers
            )
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
    postgraphile: NodeTool | None,
    stamp: str,
    db_name: str,
    dsn: str,
    url: str,
    ids: list[uuid.UUID],
    token: str,
    workdir: Path,
    servers: list[Server],
) -> int:
    targets = 3 + bool(args.info) + bool(args.granian) + (postgraphile is not None)
    pool = asyncio.run(pool_size_per_worker(dsn, targets, args.workers, args.connections))
    servers.append(start_peer(dsn, args.workers, workdir, pool))
    role = {"PROFILESTORE_DATABASE_ROLE": args.database_role} if args.database_role else None
    common: dict[str, Any] = {"gc_freeze": args.gc_freeze, "extra_env": role}
    servers.append(
        start_profilestore(PROFILESTORE, url, args.workers, "WARNING", workdir, pool, **common)
    )
    servers.append(
        start_profilestore(
            PROFILESTORE_CACHED, url, args.workers, "WARNING", workdir, pool, cached=True, **common
        )
    )
    if args.granian:
        servers.append(
            start_profilestore(
                PROFILESTORE_GRANIAN,
                url,
                args.workers,
                "WARNING",
                workdir,
                pool,
                cached=True,
                granian=True,
                **common,
            )
        )
    if args.info:
        servers.append(
            start_profilestore(
                PROFILESTORE_INFO, url, args.workers, "INFO", workdir, pool, **common
            )
        )
    if postgraphile is not None:
        servers.append(start_postgraphile(postgraphile, dsn, args.workers, workdir, pool))
    for server in servers:
        wait_healthy(server)
    sanity_check(servers, ids[0], token)
    ids_file = workdir / "ids.txt"
    ours = next(s for s in servers if s.name == PROFILESTORE)
    scripts = {}
    for server in servers:
        if server.kind == "graphql":
            read = check_graphql(server, ours, ids[:5], token)
            scripts[server.name] = write_graphql_lua(workdir, ids_file, server, read, token)
        else:
            scripts[server.name] = write_lua(workdir, ids_file, server.path_prefix, token)
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
    for server in servers:
        if server.name.startswith(PROFILESTORE):
            print(f"  gc pauses, one worker of {server.name}: {gc_pauses(server)}")
            print(f"  batched profile queries, one worker of {server.name}: {read_batches(server)}")
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
    if "vs_postgraphile" in ratio:
        versus = ratio["vs_postgraphile"]
        print(
            f"profilestore / postgraphile: {versus['rps_best']:.2f}x (best req/s), "
            f"{versus['rps_median']:.2f}x (median req/s), "
            f"{versus['cpu_per_request']:.2f}x (CPU per request, postgraphile/profilestore)"
        )
    elif args.postgraphile:
        print("profilestore / postgraphile: not measured (see the NOTE above)")
    print_cached(summary, ratio)
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
                f"  {r.target} round {r.round}: non-2xx {r.non_2xx}, socket {r.socket_errors}"
                + (f", GraphQL errors {r.body_errors}" if r.body_errors else ""),
                file=sys.stderr,
            )
        print("These figures do not measure successful reads. Logs:", file=sys.stderr)
        for server in servers:
            print(f"--- {server.name}\n{_tail(server.log_path, 15)}", file=sys.stderr)
        print(bar, file=sys.stderr)

    open_loop = None
    if args.open_loop is not None:
        cached = next(s for s in servers if s.name == PROFILESTORE_CACHED)
        open_loop = run_open_loop(cached, ids_file, token, args)
        if open_loop["errors"]:
            print(
                f"INVALID: {open_loop['errors']} errors in the open-loop run: "
                f"{open_loop['error_kinds']}",
                file=sys.stderr,
            )

    profile = None
    if args.py_spy:
        print(f"\nsampling {args.py_spy_target} with py-spy under load...")
        sampled = next(s for s in servers if s.name == args.py_spy_target)
        profile = profile_with_py_spy(
            args.py_spy, wrk, sampled, scripts[sampled.name], args, f"profiles_read-{stamp}"
        )
        print(f"  collapsed stacks: {profile['collapsed_stacks']}")
        for entry in profile["top_inclusive"][:25]:
            print(f"  {entry['percent_of_busy']:5.1f}%  {entry['frame']}")
        print("  self:")
        for entry in profile["top_self"][:15]:
            print(f"  {entry['percent_of_busy']:5.1f}%  {entry['frame']}")

    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"profiles_read-{stamp}.json"
    document = {
        "benchmark": "profiles_read",
        "timestamp": stamp,
        "valid": not errors and not (open_loop and open_loop["errors"]),
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
            "database_pool_per_process": pool,
            "database": db_name,
            "quick": args.quick,
            "postgraphile": postgraphile.version if postgraphile else None,
            "node": _node_version(postgraphile.node) if postgraphile else None,
        },
        "target_ratio": TARGET_RATIO,
        "ratios": ratio,
        "summary": summary,
        "runs": [{k: v for k, v in asdict(r).items() if k != "raw"} for r in results],
        "wrk_output": {f"{r.target}#{r.round}": r.raw for r in results},
        "open_loop": open_loop,
        "py_spy": profile,
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")
    if errors or (open_loop and open_loop["errors"]):
        return 1
    if args.check and ratio["rps_best"] < TARGET_RATIO:
        return 3
    return 0


def _node_version(node: str) -> str | None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        done = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
        return done.stdout.strip()
    return None


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
