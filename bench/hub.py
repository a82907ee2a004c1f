"""Hub benchmark: the user's aggregate, ``GET /v1/users/{id}/profiles``, against one profile read.

One run: create a uniquely named database, migrate it, load 20,000 profiles (``COPY``), start
``profilestore serve`` (2 workers, Redis, cache on), give a sample of 1,000 users data in every
domain through the API (body, eating, a goal, a calorie event, movement, watchlist, history,
two contacts), check one aggregate, then drive with wrk, targets alternating over rounds:

- ``single``: ``GET /v1/profiles/{id}``, one profile read (the cached hot path);
- ``aggregate``: ``GET /v1/users/{id}/profiles``, the one-process hub (identity and the four
  domain sections read concurrently).

Federated (3 processes) and ``/graphql`` targets do not exist yet: add them to ``TARGETS``
when they do. Database set-up, the server, wrk, tokens, CPU accounting and the table are
bench/profiles_read.py's; see bench/README.md.

    .venv/bin/python bench/hub.py            # 3 rounds of 15 s
    .venv/bin/python bench/hub.py --quick    # 2 rounds of 5 s
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import profiles_read as pr

from profilestore.migrations import runner

SINGLE, AGGREGATE = "single", "aggregate"
# target -> (path prefix, suffix after the id); federated and GraphQL targets go here later.
TARGETS = {SINGLE: ("/v1/profiles/", ""), AGGREGATE: ("/v1/users/", "/profiles")}
SECTIONS = ("identity", "social", "media", "nutrition", "movement")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 s, 2 s warm-up")
    parser.add_argument("--users", type=int, default=20_000, help="profiles loaded (20000)")
    parser.add_argument("--sample", type=int, default=1_000, help="users given data (1000)")
    parser.add_argument("--rounds", type=int, help="rounds (3; quick 2)")
    parser.add_argument("--duration", type=float, help="seconds per run (15; quick 5)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per target (5; quick 2)")
    parser.add_argument("--connections", "-c", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", "-t", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--workers", type=int, default=2, help="server workers (2)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--seed", type=int, default=20_26)
    parser.add_argument("--pg-host", default=os.environ.get("BENCH_PG_HOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("BENCH_PG_PORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("BENCH_PG_USER", "postgres"))
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.duration = args.duration or (5.0 if args.quick else 15.0)
    args.warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else 5.0)
    return args


def writes(user: uuid.UUID, contacts: list[uuid.UUID]) -> list[tuple[str, str, dict[str, Any]]]:
    base = f"/v1/profiles/{user}"
    now = dt.datetime.now(dt.UTC).isoformat()
    body = {"height_cm": 175, "weight_kg": 70, "birth_date": "1990-01-01", "sex": "female"}
    return [
        ("PUT", f"{base}/body", body | {"activity_level": "sedentary"}),
        ("PUT", f"{base}/eating", {"diet": "vegan"}),
        ("POST", f"{base}/goals", {"goal_type": "maintenance"}),
        ("POST", f"{base}/calories", {"kind": "consumed", "kcal": 500, "at": now}),
        ("PUT", f"{base}/movement", {"goals": ["strength"], "days_per_week": 3}),
        ("POST", f"{base}/watchlist", {"video_id": "v1"}),
        (
            "POST",
            f"{base}/history",
            {"video_id": "v2", "position_seconds": 60, "duration_seconds": 600},
        ),
        *(("PUT", f"{base}/contacts/{other}", {}) for other in contacts),
    ]


async def populate(base: str, token: str, sample: list[uuid.UUID], seed: int) -> int:
    """Every domain's data for each user of ``sample`` through the API; each answer must be 2xx."""
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=16)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:
        gate = asyncio.Semaphore(16)

        async def user_writes(user: uuid.UUID) -> int:
            others = rng.sample([u for u in sample[:50] if u != user], 2)
            async with gate:
                for method, path, body in writes(user, others):  # in order: body before goals
                    answer = await client.request(method, path, json=body)
                    if not answer.is_success:
                        raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text}")
            return len(writes(user, others))

        return sum(await asyncio.gather(*(user_writes(user) for user in sample)))


def check_aggregate(base: str, token: str, user: uuid.UUID) -> dict[str, Any]:
    answer = httpx.get(
        f"{base}/v1/users/{user}/profiles", headers={"Authorization": f"Bearer {token}"}
    )
    doc = answer.json() if answer.headers.get("content-type", "").endswith("json") else {}
    nulls = [section for section in SECTIONS if doc.get(section) is None]
    if answer.status_code != 200 or doc.get("missing") != [] or doc.get("errors") != [] or nulls:
        raise RuntimeError(
            f"aggregate of {user}: {answer.status_code}, null {nulls}: {answer.text}"
        )
    return doc


def measure(
    args: argparse.Namespace,
    wrk: str,
    server: pr.Server,
    sample: list[uuid.UUID],
    token: str,
    workdir: Path,
) -> list[pr.WrkResult]:
    scripts = {}
    for target, (prefix, suffix) in TARGETS.items():
        ids_file = workdir / f"ids-{target}.txt"
        ids_file.write_text("".join(f"{user}{suffix}\n" for user in sample))
        scripts[target] = pr.write_lua(workdir, ids_file, prefix, token)
    servers = {target: replace(server, name=target) for target in TARGETS}  # one server, two names
    for target in TARGETS:
        if args.warmup > 0:
            pr.run_wrk(wrk, servers[target], scripts[target], args, args.warmup, 0)
    results = []
    for round_number in range(1, args.rounds + 1):
        for target in TARGETS:
            r = pr.run_wrk(wrk, servers[target], scripts[target], args, args.duration, round_number)
            results.append(r)
            print(
                f"  round {round_number} {target:<10} {r.requests_per_second:>8.0f} req/s  "
                f"p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  cpu {r.cpu_us_per_request:5.0f} "
                f"us/req{'  <-- ERRORS' if r.errors else ''}"
            )
    return results


def versus_single(summary: dict[str, dict[str, Any]], target: str) -> dict[str, float]:
    ours, single = summary[target], summary[SINGLE]
    return {
        "rps_best": round(ours["rps_best"] / single["rps_best"], 3),
        "rps_median": round(ours["rps_median"] / single["rps_median"], 3),
        "p50": round(ours["p50_ms_median"] / single["p50_ms_median"], 2),
        "p99": round(ours["p99_ms_median"] / single["p99_ms_median"], 2),
        "cpu_per_request": round(
            ours["cpu_us_per_request_median"] / single["cpu_us_per_request_median"], 2
        ),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("ERROR: `wrk` is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    db_name = f"ps_bench_hub_{uuid.uuid4().hex[:12]}"
    dsn = f"postgresql://{args.pg_user}@{args.pg_host}:{args.pg_port}/{db_name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    server, created = None, False
    with pr.terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="ps-bench-hub-") as tmp:
        workdir = Path(tmp)
        try:
            asyncio.run(pr._admin(args, f'CREATE DATABASE "{db_name}"'))
            created = True
            started = time.monotonic()
            runner.upgrade(url)
            sample = asyncio.run(pr.load_profiles(dsn, args.users, args.sample, args.seed))
            print(
                f"database {db_name}: {args.users:,} profiles in {time.monotonic() - started:.1f}s"
            )
            pool = asyncio.run(pr.pool_size_per_worker(dsn, 1, args.workers, args.connections))
            server = pr.start_profilestore(
                "profilestore-cached", url, args.workers, "WARNING", workdir, pool, cached=True
            )
            pr.wait_healthy(server)
            token = pr.mint_token()
            started = time.monotonic()
            count = asyncio.run(populate(server.base, token, sample, args.seed))
            print(
                f"  {count:,} writes for {len(sample):,} users, all 2xx, "
                f"in {time.monotonic() - started:.1f}s"
            )
            doc = check_aggregate(server.base, token, sample[0])
            print(
                f"  aggregate of {sample[0]}: 200, no missing/errors, "
                f"non-null: {', '.join(SECTIONS)}"
            )
            print(
                f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency, "
                f"{args.rounds} rounds, targets alternate: {', '.join(TARGETS)}; "
                f"{args.workers} workers; {os.cpu_count()} CPUs"
            )
            load_before = os.getloadavg()
            results = measure(args, wrk, server, sample, token, workdir)
            summary = pr.summarize(results, list(TARGETS))
            ratios = {
                target: versus_single(summary, target) for target in TARGETS if target != SINGLE
            }
            print()
            pr.print_table(summary)
            for target, ratio in ratios.items():
                print(
                    f"{target} / single: req/s {ratio['rps_best']:.3f}x best, "
                    f"{ratio['rps_median']:.3f}x median; p50 {ratio['p50']:.1f}x; "
                    f"p99 {ratio['p99']:.1f}x; CPU {ratio['cpu_per_request']:.1f}x"
                )
            errors = [r for r in results if r.errors]
            if errors:
                print(
                    f"INVALID: errors in {[(r.target, r.round) for r in errors]}", file=sys.stderr
                )
            pr.RESULTS_DIR.mkdir(exist_ok=True)
            out = pr.RESULTS_DIR / f"hub-{stamp}.json"
            document = {
                "benchmark": "hub",
                "timestamp": stamp,
                "valid": not errors,
                "git_commit": pr._git_commit(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                },
                "config": {k: v for k, v in vars(args).items() if not k.startswith("pg_")}
                | {"database": db_name, "pool_per_process": pool, "wrk": pr.wrk_version(wrk)},
                "aggregate_sample": doc,
                "summary": summary,
                "ratios_vs_single": ratios,
                "runs": [{k: v for k, v in asdict(r).items() if k != "raw"} for r in results],
            }
            out.write_text(json.dumps(document, indent=2, default=str) + "\n")
            print(f"\nwrote {out.relative_to(pr.ROOT)}")
            return 1 if errors else 0
        except KeyboardInterrupt:
            print("interrupted: cleaning up", file=sys.stderr)
            return 130
        finally:
            if server is not None:
                pr.stop(server)
                if server.process.returncode not in (0, None, -15):
                    print(pr._tail(server.log_path, 15), file=sys.stderr)
            if created and not args.keep:
                asyncio.run(pr._admin(args, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
                print(f"dropped database {db_name}")
            elif created:
                print(f"kept database {db_name}")


if __name__ == "__main__":
    sys.exit(main())
