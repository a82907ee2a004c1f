"""People search, ``GET /v1/search/profiles?q=``, on a large table, against a bare peer.

One run: a database of ``--rows`` profiles (1,000,000 by default) made by one server-side
``INSERT ... SELECT`` over ``generate_series`` (first and last names from several languages,
accents included, usernames in four styles; 2% private accounts, 1% display names for
contacts only), a caller with 50 contacts and one blocker; then, alternating over rounds:

- **profilestore** (``profilestore serve``, read cache off, ``LOG_LEVEL=WARNING``), a user's
  token: the whole service (auth, rate limits, the access rule, the request pipeline);
- **bare**: FastAPI + an asyncpg pool (``create_peer`` below) running the very SQL
  profilestore runs (the tier statements compiled here once, per tier), one tier after the
  other until the page is full, the rows as JSON: no auth, no middleware, no ORM.

``wrk`` picks a query per request from a mix: 2-letter prefixes, 3-5 letter prefixes, exact
usernames, misspellings and accented names.

    .venv/bin/python bench/search.py                    # 1 M profiles, 3 rounds of 15 s
    .venv/bin/python bench/search.py --rows 100000 --quick
    .venv/bin/python bench/search.py --explain          # EXPLAIN ANALYZE a query per class

Needs what ``profiles_read.py`` needs (PostgreSQL, Redis, ``wrk``); figures as JSON under
``bench/results/``; see bench/README.md, "People search".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import profiles_read as pr
from fastapi import FastAPI
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.responses import Response

from profilestore.migrations import runner
from profilestore.migrations.versions import profiles_0007_search_order as search_order
from profilestore.migrations.versions import profiles_0009_username_words as search_words

FIRST = [
    "José",
    "José",
    "Zoë",
    "Françoise",
    "Björn",
    "Søren",
    "Łukasz",
    "Ærin",
    "Chloé",
    "Renée",
    "Raphaël",
    "Inés",
    "Jürgen",
    "Ángel",
    "Maria",
    "Mariana",
    "Marco",
    "Martin",
    "Mark",
    "Mateo",
    "Max",
    "John",
    "Joanna",
    "Jonas",
    "Joseph",
    "Alex",
    "Alexander",
    "Alexandra",
    "Anna",
    "Andrew",
    "Daniel",
    "David",
    "Elena",
    "Elias",
    "Emma",
    "Katharine",
    "Katherine",
    "Kate",
    "Lucas",
    "Lucia",
    "Luca",
    "Noah",
    "Olivia",
    "Oliver",
    "Sam",
    "Samuel",
    "Sofia",
    "Sophie",
    "Tom",
    "Thomas",
    "Yuki",
    "Haruto",
    "Wei",
    "Li",
    "Aarav",
    "Priya",
    "Fatima",
    "Omar",
    "Chen",
    "Ngozi",
    "Kwame",
    "Ingrid",
    "Sven",
    "Pierre",
    "Hélène",
    "Nadia",
    "Igor",
]
LAST = [
    "Müller",
    "García",
    "Martínez",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Dubois",
    "Lefèvre",
    "Öztürk",
    "Nowak",
    "Kowalski",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Hepburn",
    "Rossi",
    "Russo",
    "Ferrari",
    "Bianchi",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Wang",
    "Zhang",
    "Kim",
    "Park",
    "Nguyen",
    "Silva",
    "Santos",
    "Oliveira",
    "Costa",
    "Ivanov",
    "Novak",
]
SYLLABLES = [
    *("ka", "ri", "lo", "ne", "ma", "to", "su", "el", "an", "da", "vi", "ro", "be", "ni", "sa"),
    *("le", "mo", "ta", "di", "no", "ha", "ye", "ju", "ko", "fe", "li", "ra", "go", "wu", "pe"),
]
# The mix's classes: 100 lines of the queries file each (wrk picks a line at random).
TWO_LETTERS = ["ma", "jo", "al", "an", "da", "el", "ka", "lu", "so", "sa", "to", "ch", "mü", "zo"]
PREFIXES = ["mar", "jose", "alex", "kath", "hepb", "müll", "sofi", "olive", "tana", "nguy"]
MISSPELLED = ["katherin", "alexnader", "muler", "gracia", "jonhson", "thomsen", "olivai"]
ACCENTED = ["José", "Zoë Müller", "Françoise", "Björn", "Hélène Dubois", "Łukasz", "García"]
CLASSES = ("two", "prefix", "exact", "misspelled", "accented")
PEER = "bare"
PROFILESTORE = "profilestore"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=8, help="pooled connections per worker")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 s")
    parser.add_argument(
        "--explain", action="store_true", help="only EXPLAIN ANALYZE a query per class"
    )
    parser.add_argument("--classes", default=",".join(CLASSES), help="query classes to mix")
    parser.add_argument(
        "--open-loop",
        type=float,
        metavar="RATE",
        help="also measure each target at RATE req/s, open loop (latency at a given load)",
    )
    parser.add_argument("--open-loop-duration", type=float, default=None)
    parser.add_argument("--open-loop-connections", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--pg-host", default=os.environ.get("BENCH_PG_HOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("BENCH_PG_PORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("BENCH_PG_USER", "postgres"))
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 2, 5.0, 2.0
    args.open_loop_duration = args.open_loop_duration or (5.0 if args.quick else 20.0)
    return args


# --------------------------------------------------------------------------------- database


def _ascii(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.replace("Ł", "L").replace("Æ", "Ae"))
    return "".join(c for c in decomposed if c.isascii()).lower()


def _array(values: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def load_sql(rows: int) -> str:
    """One ``INSERT ... SELECT`` of ``rows`` profiles: a first and a last name from the lists
    above (picked by co-prime strides) or, for a third of the first names and two fifths of
    the last names, made of two syllables (over 800 of each); a username style per row, the
    row number keeping usernames unique."""
    firsts, lasts, syllables = len(FIRST), len(LAST), len(SYLLABLES)
    return f"""
WITH src AS (
  SELECT i, 1 + (i * 7919) % {firsts} AS fi, 1 + (i / {firsts} * 104729 + i) % {lasts} AS li,
         initcap(s[1 + i % {syllables}] || s[1 + (i / 7) % {syllables}]) AS fs,
         initcap(s[1 + (i / 3) % {syllables}] || s[1 + (i * 13) % {syllables}] || 'r') AS ls
  FROM generate_series(1::bigint, {rows}) AS i, (SELECT {_array(SYLLABLES)} AS s) AS syllables),
names AS (
  SELECT i, CASE WHEN i % 3 = 0 THEN fs ELSE ({_array(FIRST)})[fi] END AS first,
         CASE WHEN i % 5 < 2 THEN ls ELSE ({_array(LAST)})[li] END AS last,
         CASE WHEN i % 3 = 0 THEN lower(fs) ELSE ({_array([_ascii(n) for n in FIRST])})[fi] END
           AS fa,
         CASE WHEN i % 5 < 2 THEN lower(ls) ELSE ({_array([_ascii(n) for n in LAST])})[li] END
           AS la
  FROM src)
INSERT INTO profiles (user_id, username, display_name, bio, avatar_url, locale, timezone,
                      preferences, created_at, updated_at, version, private_account, visibility)
SELECT md5('search-bench-' || i)::uuid,
       CASE i % 4 WHEN 0 THEN fa || '.' || la WHEN 1 THEN fa || '_' || la
                  WHEN 2 THEN fa ELSE left(fa, 1) || la END || i,
       CASE WHEN i % 10 = 0 THEN NULL ELSE first || ' ' || last END,
       'Hello', NULL, 'en-GB', 'UTC', '{{}}'::jsonb, now(), now(), 1,
       i % 50 = 0,
       CASE WHEN i % 100 = 1 THEN '{{"display_name": "contacts"}}'::jsonb ELSE '{{}}'::jsonb END
FROM names
"""


async def load(dsn: str, rows: int) -> tuple[uuid.UUID, list[str]]:
    """The profiles, the caller's 50 contacts and one blocker; the caller and some usernames."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        started = time.monotonic()
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE (tablename = 'profiles' AND indexname LIKE 'ix_profiles_search%')"
            " OR tablename IN ('profile_search_words', 'search_words')"
            " AND indexname NOT LIKE 'pk_%'"
        )
        for index in indexes:  # built once after the load: far faster than row by row
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        await conn.execute(load_sql(rows))
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for statement in search_words.BACKFILL:  # the search words, as the migration makes them
            await conn.execute(statement)
        for index in indexes:
            await conn.execute(index["indexdef"])
            if index["indexname"] in search_order.INDEXES:
                await conn.execute(search_order.statistics(index["indexname"]))
        for table in ("profiles", "profile_search_words", "search_words"):
            await conn.execute(f"VACUUM ANALYZE {table}")  # as autovacuum would, in time
        print(f"loaded {rows:,} profiles in {time.monotonic() - started:.1f} s")
        caller = await conn.fetchval("SELECT user_id FROM profiles ORDER BY user_id LIMIT 1")
        await conn.execute(
            "INSERT INTO contacts (user_id, contact_user_id, is_favorite, created_at,"
            " updated_at, version) SELECT $1, user_id, false, now(), now(), 1 FROM profiles"
            " WHERE user_id <> $1 ORDER BY md5(username) LIMIT 50",
            caller,
        )
        await conn.execute(
            "INSERT INTO blocks (user_id, blocked_user_id, created_at) SELECT user_id, $1, now()"
            " FROM profiles WHERE user_id <> $1 ORDER BY username LIMIT 1",
            caller,
        )
        usernames = await conn.fetch("SELECT username FROM profiles TABLESAMPLE SYSTEM (1)")
    finally:
        await conn.close()
    return caller, [row["username"] for row in usernames[:200]]


def query_mix(usernames: list[str], seed: int, classes: list[str]) -> list[str]:
    """100 lines per class of queries (``CLASSES``), each of its queries as often."""
    groups = dict(zip(CLASSES, (TWO_LETTERS, PREFIXES, [], MISSPELLED, ACCENTED), strict=True))
    groups["exact"] = random.Random(seed).sample(usernames, 20)
    chosen = [groups[name] for name in classes]
    return [q for group in chosen for q in group for _ in range(100 // len(group))]


# ---------------------------------------------------------------------------- the peer's SQL


async def connected_dialect(url: str) -> Dialect:
    """The dialect as profilestore's engine has it once connected (string escaping)."""
    engine = create_async_engine(url)
    async with engine.connect():
        pass
    await engine.dispose()
    return engine.dialect


def compiled_tiers(url: str, caller: uuid.UUID, limit: int) -> dict[str, Any]:
    """profilestore's statements for a user's first page, compiled for asyncpg: per tier and
    kind of needle (``"<tier>-<one word>"``) and for the fuzzy tier's words
    (``"nearest-<one word>"``), the SQL and, per positional parameter, its name (filled per
    request) or its constant value."""
    from profilestore.app import create_app
    from profilestore.domains.profiles import search, search_sql
    from profilestore.settings import Settings

    create_app(Settings(jwt_secret=pr.JWT_SECRET))  # installs the domains' hooks
    dialect = asyncio.run(connected_dialect(url))
    named = {
        "limit",
        "words",
        "chunk_top",
        "lows",
        "highs",
        *search.parameters("x", search.Viewer(caller), None),
    }
    statements: dict[str, Any] = {}
    for single in (False, True):
        for tier in range(search.FUZZY + 1):
            shape = search_sql.Shape("postgresql", tier, False, paged=False, single=single)
            statements[f"{tier}-{int(single)}"] = search_sql.statement(shape)
        statements[f"nearest-{int(single)}"] = search_sql.nearest_words("postgresql", single=single)
    statements["ranges"] = search.RANGE_COUNTS
    compiled = {}
    for key, statement in statements.items():
        done = statement.compile(dialect=dialect)
        order = done.positiontup or []
        params = [[n, None] if n in named else [None, done.params[n]] for n in order]
        compiled[key] = {"sql": done.string, "params": params}
    return {"statements": compiled, "caller": str(caller), "limit": limit}


class PeerSearch:
    """The bare peer's search: profilestore's statements and order of work (the needle
    folded by the database, the tiers in order until the page is full, the fuzzy tier's
    words in chunks), on one asyncpg connection."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.statements = spec["statements"]
        self.caller, self.limit = uuid.UUID(spec["caller"]), spec["limit"]

    async def rows(self, conn: asyncpg.Connection, q: str) -> list[Any]:
        from profilestore.domains.profiles import search

        raw = q.strip().removeprefix("@").strip()
        needle = raw.lower() if raw.isascii() else await conn.fetchval(FOLD, raw)
        values = search.parameters(needle, search.Viewer(self.caller), None)
        single = int(search.is_one_word(needle))
        rows: list[Any] = []
        for tier in search.tiers(needle, None):
            values["limit"] = self.limit - len(rows)
            if tier == search.FUZZY:
                rows += await self.fuzzy(conn, values, single)
            else:
                words = search.range_words(needle)
                if tier == search.NAME_PREFIX and not single and len(words) > 1:
                    highs = [search.following(word) for word in words]
                    ranges = await self.fetch(conn, "ranges", {"lows": words, "highs": highs})
                    values["word_low"], values["word_high"] = ranges[0]["low"], ranges[0]["high"]
                rows += await self.fetch(conn, f"{tier}-{single}", values)
            if len(rows) >= self.limit:
                break
        return rows

    async def fuzzy(
        self, conn: asyncpg.Connection, values: dict[str, Any], single: int
    ) -> list[Any]:
        from profilestore.domains.profiles import search

        nearest = await self.fetch(conn, f"nearest-{single}", values)
        wanted: int = values["limit"]
        rows: list[Any] = []
        if not nearest:
            return rows
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        for chunk, top in search.chunks([(row["word"], row["similarity"]) for row in nearest]):
            values |= {"words": chunk, "chunk_top": top, "limit": wanted - len(rows)}
            rows += await self.fetch(conn, f"{search.FUZZY}-{single}", values)
            if len(rows) >= wanted:
                break
        await conn.execute("SET LOCAL plan_cache_mode TO DEFAULT")
        return rows

    async def fetch(self, conn: asyncpg.Connection, key: str, values: dict[str, Any]) -> list[Any]:
        entry = self.statements[key]
        args = [values[name] if name else constant for name, constant in entry["params"]]
        return list(await conn.fetch(entry["sql"], *args))


FOLD = "SELECT profilestore_fold($1::text)"


def create_peer() -> FastAPI:
    """The bare peer: ``GET /search?q=``, profilestore's statements (``PeerSearch``)."""
    peer = PeerSearch(json.loads(Path(os.environ["SEARCH_PEER_SQL"]).read_text()))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        size = int(os.environ.get("BARE_PEER_POOL_SIZE", "8"))
        app.state.pool = await asyncpg.create_pool(
            os.environ["BARE_PEER_DSN"], min_size=1, max_size=size
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/search")
    async def find(q: str) -> Response:
        async with app.state.pool.acquire() as conn, conn.transaction():  # as a unit of work
            rows = await peer.rows(conn, q)
        items = [{k: str(r[k]) if k == "user_id" else r[k] for k in ITEM} for r in rows]
        return Response(
            orjson.dumps({"items": items[: peer.limit - 1]}), media_type="application/json"
        )

    return app


ITEM = ("user_id", "username", "display_name", "avatar_url", "bio")


# ------------------------------------------------------------------------------------- run


def explain(dsn: str, spec: dict[str, Any], mix: list[str]) -> None:
    """EXPLAIN ANALYZE of each statement a query of each class runs (the peer's work), times
    only (``SEARCH_EXPLAIN_PLANS=1``: the plans too)."""
    peer = PeerSearch(spec)
    keys = {entry["sql"]: key for key, entry in spec["statements"].items()}

    class Explaining:
        def __init__(self, conn: asyncpg.Connection, q: str) -> None:
            self.conn, self.q = conn, q

        async def fetchval(self, sql: str, *args: Any) -> Any:
            return await self.conn.fetchval(sql, *args)

        async def execute(self, sql: str) -> Any:
            return await self.conn.execute(sql)

        async def fetch(self, sql: str, *args: Any) -> list[Any]:
            plan = await self.conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
            text = "\n".join(row[0] for row in plan)
            print(f"--- {self.q!r} {keys[sql]}: {text.splitlines()[-1]}")
            if os.environ.get("SEARCH_EXPLAIN_PLANS"):
                print(text)
            return list(await self.conn.fetch(sql, *args))

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for q in dict.fromkeys(mix[::100]):
                async with conn.transaction():
                    await peer.rows(Explaining(conn, q), q)
        finally:
            await conn.close()

    asyncio.run(run())


def start(args: argparse.Namespace, url: str, dsn: str, workdir: Path) -> list[pr.Server]:
    quota = {"PROFILESTORE_RATE_LIMIT_LOOKUPS_PER_MINUTE": str(10**9)}
    quota["PROFILESTORE_RATE_LIMIT_PER_MINUTE"] = str(10**9)
    ours = pr.start_profilestore(
        PROFILESTORE, url, args.workers, "WARNING", workdir, args.pool, extra_env=quota
    )
    env = pr.base_env() | {
        "BARE_PEER_DSN": dsn,
        "BARE_PEER_POOL_SIZE": str(args.pool),
        "SEARCH_PEER_SQL": str(workdir / "peer.json"),
    }
    port = pr.free_port()
    command = [str(pr.BIN / "uvicorn"), "search:create_peer", "--factory", "--app-dir"]
    command += [str(pr.BENCH_DIR), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(args.workers), "--no-access-log", "--log-level", "warning"]
    peer = pr._spawn(PEER, command, env, port, "/search?q=", workdir)
    ours.path_prefix = "/v1/search/profiles?q="
    return [ours, peer]


def same_answers(servers: list[pr.Server], mix: list[str], token: str) -> None:
    """Both targets give the same users in the same order for one query of each class."""
    for q in dict.fromkeys(mix[::100]):
        found = []
        for server in servers:
            status, body = pr.fetch(server, urllib.parse.quote(q), token)
            found.append([item["user_id"] for item in body["items"]] if status == 200 else status)
        if found[0] != found[1]:
            raise RuntimeError(f"the targets answer {q!r} differently: {found}")


def measure(
    args: argparse.Namespace, wrk: str, servers: list[pr.Server], lua: dict[str, Path]
) -> list[pr.WrkResult]:
    """A warm-up round, then ``args.rounds`` rounds; the targets' order alternates."""
    results = []
    for round_number in range(args.rounds + 1):
        for server in servers if round_number % 2 else list(reversed(servers)):
            duration = args.duration if round_number else args.warmup
            run = pr.run_wrk(wrk, server, lua[server.name], args, duration, round_number)
            if run.non_2xx:
                raise RuntimeError(f"{server.name}: {run.non_2xx} errors\n{run.raw}")
            if round_number:  # socket errors (wrk's 5 s timeouts) are counted, not fatal
                results.append(run)
    return results


def report(args: argparse.Namespace, results: list[pr.WrkResult]) -> None:
    summary = pr.summarize(results, [PROFILESTORE, PEER])
    pr.print_table(summary)
    ours, peer = summary[PROFILESTORE], summary[PEER]
    ratio = {
        "rps_median": round(ours["rps_median"] / peer["rps_median"], 3),
        "p50": round(ours["p50_ms_median"] / peer["p50_ms_median"], 3),
        "p99": round(ours["p99_ms_median"] / peer["p99_ms_median"], 3),
        "cpu": round(ours["cpu_us_per_request_median"] / peer["cpu_us_per_request_median"], 3),
    }
    print(f"profilestore / bare: {ratio}")
    pr.RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    output = pr.RESULTS_DIR / f"search-{stamp}.json"
    body = {"args": vars(args), "summary": summary, "ratio": ratio}
    output.write_text(json.dumps(body, indent=2))
    print(f"figures: {output}")


def open_loop(
    args: argparse.Namespace, servers: list[pr.Server], queries: Path, token: str
) -> None:
    """Each target at ``--open-loop`` req/s (``bench/open_loop.py``: latency from the
    scheduled send time), ``--rounds`` rounds alternating; the medians of p50 and p99."""
    latencies: dict[str, list[dict[str, float]]] = {server.name: [] for server in servers}
    for round_number in range(args.rounds):
        for server in servers if round_number % 2 else list(reversed(servers)):
            result = pr.run_open_loop(server, queries, token, args)
            latencies[server.name].append(result["latency_ms"])
    for name, runs in latencies.items():
        if any(run["p99"] is None for run in runs):
            raise RuntimeError(f"{name}: no answer in an open-loop round")
        p50 = statistics.median(run["p50"] for run in runs)
        p99 = statistics.median(run["p99"] for run in runs)
        rate = f"{args.open_loop:g} req/s"
        print(f"open loop at {rate}, {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms (median)")


def run(args: argparse.Namespace, wrk: str, dsn: str, url: str) -> None:
    runner.upgrade(url)
    caller, usernames = asyncio.run(load(dsn, args.rows))
    mix = query_mix(usernames, args.seed, args.classes.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="ps-bench-search-"))
    spec = compiled_tiers(url, caller, 21)  # the API's default page of 20, and one to see more
    (workdir / "peer.json").write_text(json.dumps(spec))
    if args.explain:
        explain(dsn, spec, mix)
        return
    (workdir / "queries.txt").write_text("".join(urllib.parse.quote(q) + "\n" for q in mix))
    servers = start(args, url, dsn, workdir)
    try:
        for server in servers:
            pr.wait_healthy(server)
        token = pr.mint_token(str(caller), "user")
        same_answers(servers, mix, token)
        lua = {}
        for server in servers:
            folder = workdir / server.name
            folder.mkdir()
            lua[server.name] = pr.write_lua(
                folder, workdir / "queries.txt", server.path_prefix, token
            )
        report(args, measure(args, wrk, servers, lua))
        if args.open_loop:
            open_loop(args, servers, workdir / "queries.txt", token)
    finally:
        for server in servers:
            pr.stop(server)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2
    name = f"ps_bench_search_{uuid.uuid4().hex[:8]}"
    dsn = f"postgresql://{args.pg_user}@{args.pg_host}:{args.pg_port}/{name}"
    asyncio.run(pr._admin(args, f'CREATE DATABASE "{name}"'))
    try:
        with pr.terminate_on_sigterm():
            run(args, wrk, dsn, dsn.replace("postgresql://", "postgresql+asyncpg://"))
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            asyncio.run(pr._admin(args, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
