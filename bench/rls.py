"""What row-level security costs on the hot reads: the same profilestore twice over one
database, as the login role (policies bypassed, reads autocommit: one round trip) and as
``profilestore_app`` (``PROFILESTORE_DATABASE_ROLE``: every read a transaction whose BEGIN
carries the caller's identity), read cache off (every request reads the database), driven with
``wrk`` in alternating rounds:

- ``GET /v1/profiles/{id}``: the prepared read on asyncpg (batched under load);
- ``GET /v1/profiles/{id}/body``: a private read through an ORM session.

    .venv/bin/python bench/rls.py            # 20,000 profiles, 3 rounds of 10 s per target
    .venv/bin/python bench/rls.py --quick    # 2 rounds of 5 s

Needs what ``profiles_read.py`` needs (PostgreSQL, Redis, ``wrk``); figures as JSON under
``bench/results/``; see bench/README.md, "Row-level security".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import profiles_read as pr

from profilestore.migrations import runner
from profilestore.migrations.policies import APP_ROLE

PLAIN = "login-role"
RLS = "app-role"
READS = {"profile": "", "body": "/body"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=8, help="pooled connections per worker")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 s")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 2, 5.0, 2.0
    return args


async def load_bodies(dsn: str, ids: list[uuid.UUID]) -> None:
    now = dt.datetime.now(dt.UTC)
    records = [(user, 170.0, 70.0, dt.date(1990, 1, 1), "metric", now, now, 1) for user in ids]
    columns = ("user_id", "height_cm", "weight_kg", "birth_date", "units")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "nutrition_body",
            records=records,
            columns=(*columns, "created_at", "updated_at", "version"),
        )
        await conn.execute("VACUUM (ANALYZE) nutrition_body")
    finally:
        await conn.close()


def scripts(workdir: Path, ids: list[uuid.UUID], token: str) -> dict[str, Path]:
    """A wrk script per read, each picking among ``ids`` at random."""
    found = {}
    for read, suffix in READS.items():
        folder = workdir / read
        folder.mkdir()
        ids_file = folder / "ids.txt"
        ids_file.write_text("".join(f"{user}{suffix}\n" for user in ids))
        found[read] = pr.write_lua(folder, ids_file, "/v1/profiles/", token)
    return found


def same_answers(servers: list[pr.Server], user: uuid.UUID, token: str) -> None:
    for suffix in READS.values():
        answers = [pr.fetch(server, f"{user}{suffix}", token) for server in servers]
        if answers[0][0] != 200 or any(answer != answers[0] for answer in answers):
            raise RuntimeError(f"the targets answer {suffix or 'the profile'} differently")


def measure(
    args: argparse.Namespace, wrk: str, servers: list[pr.Server], lua: dict[str, Path]
) -> list[dict[str, Any]]:
    """A warm-up round, then ``args.rounds`` rounds; the targets' order alternates."""
    results: list[dict[str, Any]] = []
    for round_number in range(args.rounds + 1):
        order = servers if round_number % 2 else list(reversed(servers))
        for read, script in lua.items():
            for server in order:
                duration = args.duration if round_number else args.warmup
                run = pr.run_wrk(wrk, server, script, args, duration, round_number)
                if run.errors:
                    raise RuntimeError(f"{server.name} {read}: {run.errors} errors\n{run.raw}")
                if round_number:
                    results.append({"read": read, "target": server.name, **_figures(run)})
    return results


def _figures(run: pr.WrkResult) -> dict[str, float]:
    return {
        "rps": run.requests_per_second,
        "p50_ms": run.p50_ms,
        "p99_ms": run.p99_ms,
        "cpu_us": run.cpu_us_per_request,
    }


def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for read in READS:
        for target in (PLAIN, RLS):
            runs = [r for r in results if r["read"] == read and r["target"] == target]
            summary.setdefault(read, {})[target] = {
                key: round(statistics.median(r[key] for r in runs), 2)
                for key in ("rps", "p50_ms", "p99_ms", "cpu_us")
            }
    return summary


def print_summary(summary: dict[str, dict[str, dict[str, float]]]) -> None:
    print("| read | target | req/s (median) | p50 ms | p99 ms | server CPU us/request |")
    print("|---|---|---|---|---|---|")
    for read, targets in summary.items():
        for target, figures in targets.items():
            print(
                f"| {read} | {target} | {figures['rps']:.0f} | {figures['p50_ms']:.2f} | "
                f"{figures['p99_ms']:.2f} | {figures['cpu_us']:.0f} |"
            )
        ratio = targets[RLS]["rps"] / targets[PLAIN]["rps"]
        print(f"| {read} | app-role / login-role req/s | {ratio:.2f}x | | | |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is needed: apt-get install -y wrk", file=sys.stderr)
        return 2
    name = f"ps_bench_rls_{uuid.uuid4().hex[:8]}"
    dsn = f"postgresql://{args.pg_user}@{args.pg_host}:{args.pg_port}/{name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://")
    asyncio.run(pr._admin(args, f'CREATE DATABASE "{name}"'))
    servers: list[pr.Server] = []
    try:
        runner.upgrade(url)
        ids = asyncio.run(pr.load_profiles(dsn, args.profiles, 10_000, args.seed))
        asyncio.run(load_bodies(dsn, ids))
        workdir = Path(tempfile.mkdtemp(prefix="ps-bench-rls-"))
        for target, extra in ((PLAIN, {}), (RLS, {"PROFILESTORE_DATABASE_ROLE": APP_ROLE})):
            servers.append(
                pr.start_profilestore(
                    target, url, args.workers, "WARNING", workdir, args.pool, extra_env=extra
                )
            )
        for server in servers:
            pr.wait_healthy(server)
        token = pr.mint_token()
        same_answers(servers, ids[0], token)
        summary = summarize(measure(args, wrk, servers, scripts(workdir, ids, token)))
        print_summary(summary)
        pr.RESULTS_DIR.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        output = pr.RESULTS_DIR / f"rls-{stamp}.json"
        output.write_text(json.dumps({"args": vars(args), "summary": summary}, indent=2))
        print(f"figures: {output}")
    finally:
        for server in servers:
            pr.stop(server)
        asyncio.run(pr._admin(args, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
