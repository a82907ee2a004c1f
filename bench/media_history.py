"""Media benchmark: player beats, continue-watching reads and the profile read, on one server.

One run: create a uniquely named PostgreSQL database, migrate it, COPY in 10,000 profiles (one
per viewer), 1,000,000 history entries and 20 resume points per viewer, start profilestore
(2 workers, cache on, Redis), check the answers against the loaded rows, then drive in turn,
rounds alternating, with ``wrk``:

- ``beats``: ``POST /v1/profiles/{id}/history``, a random viewer's beat (position + 10 s of the
  video it is playing, a fresh ``entry_id`` per beat, as an idempotent player sends it);
- ``continue-watching``: ``GET /v1/profiles/{id}/continue-watching`` of a random viewer;
- ``profile-read``: ``GET /v1/profiles/{id}`` of a random viewer, for comparison.

It prints req/s, latency, server (and PostgreSQL) CPU per request, the seed target
(continue-watching p99 < 50 ms) and beats/s / profile reads/s, writes the figures as JSON under
``bench/results/`` and drops the database, whatever happens.

    .venv/bin/python bench/media_history.py           # 1,000,000 history rows, 3 x 15 s each
    .venv/bin/python bench/media_history.py --quick   # 100,000 history rows, 2 x 5 s each

Servers, wrk and the CPU accounting are bench/profiles_read.py's; see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import profiles_read as pr

from profilestore.migrations import runner
from profilestore.settings import Settings

BEATS, CONTINUE, PROFILE = "beats", "continue-watching", "profile-read"
TARGET_P99_MS = 50.0
COMPLETION = float(Settings.model_fields["media_completion_ratio"].default)
WINDOW = float(Settings.model_fields["media_history_window_seconds"].default)
DURATIONS = (1320, 1500, 2640, 3300, 5400, 6600, 8100)  # episodes and films, seconds
DEVICES = ("tv", "tv", "web", "ios", "android", None)
CATALOGUE = 50_000  # video ids tt0000000..: each viewer's videos are a sample of these
BEAT_STEP_SECONDS = 10.0  # a player beats every 10 s: each beat moves the position on by that
HISTORY_COLUMNS = (
    "user_id",
    "entry_id",
    "viewer_id",
    "video_id",
    "started_at",
    "watched_at",
    "position_seconds",
    "duration_seconds",
    "progress",
    "completed",
    "device",
)
POINT_COLUMNS = (
    "user_id",
    "viewer_id",
    "video_id",
    "position_seconds",
    "duration_seconds",
    "progress",
    "completed",
    "dismissed",
    "watched_at",
    "entry_id",
    "last_beat_id",
    "last_event_at",
    "updated_at",
)

# --------------------------------------------------------------------------------- the data


@dataclass
class Media:
    history: list[tuple[Any, ...]]
    points: list[tuple[Any, ...]]
    playing: list[tuple[uuid.UUID, str, float, float]]  # viewer, video, duration, position


def media_records(users: list[uuid.UUID], history_rows: int, per_user: int, seed: int) -> Media:
    """Each viewer's history over a sample of the catalogue, as the app writes it: an entry per
    stretch of watching (watched within the history window of its start, entries of a video
    apart by more than the window, positions advancing), progress = position / duration,
    completed from the completion ratio; a resume point per video, matching its newest entry."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    history: list[tuple[Any, ...]] = []
    points: list[tuple[Any, ...]] = []
    playing = []
    each, extra = divmod(history_rows, len(users))
    for index, user_id in enumerate(users):
        entries = each + (index < extra)
        videos = rng.sample(range(CATALOGUE), min(per_user, entries))
        sittings = [1] * len(videos)
        for _ in range(entries - len(videos)):
            sittings[rng.randrange(len(videos))] += 1
        newest: tuple[dt.datetime, str, float, float] | None = None
        for number, count in zip(videos, sittings, strict=True):
            video_id = f"tt{number:07d}"
            duration = float(rng.choice(DURATIONS) + rng.randrange(120))
            finished = rng.random() < 0.4
            share = rng.uniform(COMPLETION, 1.0) if finished else rng.uniform(0.02, 0.9)
            when = now - dt.timedelta(seconds=rng.randrange(60, 180 * 86400))
            rows = []
            for step in range(count, 0, -1):  # newest entry first, going back in time
                position = round(duration * share * step / count, 1)
                progress = min(position / duration, 1.0)
                started = when - dt.timedelta(seconds=rng.randrange(int(WINDOW)))
                entry_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                row = (user_id, entry_id, "default", video_id, started, when, position, duration)
                rows.append((*row, progress, progress >= COMPLETION, rng.choice(DEVICES)))
                gap = WINDOW + 60 if rng.random() < 0.6 else rng.randrange(3600, 7 * 86400)
                when = started - dt.timedelta(seconds=gap)
            history.extend(rows)
            _, entry_id, _, _, _, at, position, _, progress, completed, _ = rows[0]
            dismissed = not completed and rng.random() < 0.03
            point = (position, duration, progress, completed, dismissed, at, entry_id)
            points.append((user_id, "default", video_id, *point, None, at, at))
            if not completed and (newest is None or at > newest[0]):
                newest = (at, video_id, duration, position)
        if newest is None:  # everything finished: a video not watched before
            newest = (now, f"tt{rng.randrange(CATALOGUE):07d}-new", 2640.0, 0.0)
        playing.append((user_id, newest[1], newest[2], newest[3]))
    history.sort(key=lambda row: row[5])  # rows arrive in the order they were watched
    points.sort(key=lambda row: row[8])
    return Media(history, points, playing)


async def load(dsn: str, args: argparse.Namespace) -> Media:
    profiles = pr.profile_records(args.users, args.seed)
    media = media_records([p[0] for p in profiles], args.history_rows, args.points, args.seed + 2)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for table, records, columns in (
            ("profiles", profiles, pr.COLUMNS),
            ("media_history", media.history, HISTORY_COLUMNS),
            ("media_resume_points", media.points, POINT_COLUMNS),
        ):
            await conn.copy_records_to_table(table, records=records, columns=columns)
            await conn.execute(f"VACUUM (ANALYZE) {table}")
            loaded = await conn.fetchval(f"SELECT count(*) FROM {table}")
            if loaded != len(records):
                raise RuntimeError(f"loaded {loaded} rows into {table}, expected {len(records)}")
    finally:
        await conn.close()
    return media


# ------------------------------------------------------------------------------------ checks


def call(
    server: pr.Server, method: str, path: str, token: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.base + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def sanity_check(server: pr.Server, media: Media, service: str, admin: str) -> None:
    """The loaded rows read back as the app's answers, a beat applies and shows at once in
    continue-watching, and an unknown viewer is a 404: otherwise the run stops."""
    user = media.playing[0][0]
    expected = sorted(
        (p for p in media.points if p[0] == user and not p[6] and not p[7] and p[3] > 0),
        key=lambda p: (p[8], p[2]),
        reverse=True,
    )
    status, page = call(server, "GET", f"/v1/profiles/{user}/continue-watching?limit=100", service)
    got = [(i["video_id"], i["position_seconds"], i["progress"]) for i in page["items"]]
    if status != 200 or got != [(p[2], p[3], p[5]) for p in expected[:100]]:
        raise RuntimeError(f"continue-watching of {user}: {status} {page!r}, expected {expected}")
    entries = {row[1] for row in media.history if row[0] == user}
    status, page = call(server, "GET", f"/v1/profiles/{user}/history?limit=100", service)
    got_ids = {uuid.UUID(i["entry_id"]) for i in page["items"]}
    if status != 200 or not got_ids <= entries or len(got_ids) != min(len(entries), 100):
        raise RuntimeError(f"history of {user}: {status} {page!r}")
    if (status := call(server, "GET", f"/v1/profiles/{user}", admin)[0]) != 200:
        raise RuntimeError(f"profile read of {user}: {status}")
    missing = call(server, "GET", f"/v1/profiles/{uuid.uuid4()}/continue-watching", service)
    if missing[0] != 404:
        raise RuntimeError(f"continue-watching of an unknown viewer: {missing}")
    _, video, duration, position = media.playing[1]
    beat = {"video_id": video, "position_seconds": position + 1, "duration_seconds": duration}
    status, answer = call(
        server, "POST", f"/v1/profiles/{media.playing[1][0]}/history", service, beat
    )
    if status != 200 or not answer.get("applied"):
        raise RuntimeError(f"beat {beat}: {status} {answer!r}")
    status, page = call(
        server, "GET", f"/v1/profiles/{media.playing[1][0]}/continue-watching", service
    )
    if status != 200 or page["items"][0]["video_id"] != video:
        raise RuntimeError(f"continue-watching after a beat of {video}: {status} {page!r}")
    print(
        f"  checked: continue-watching ({len(expected)} items) and history ({len(entries)} "
        "entries) of a viewer as loaded; a beat applies and leads continue-watching"
    )


# -------------------------------------------------------------------------------------- wrk

LUA_COUNTERS = """
local threads = {}
bad_status = 0
not_applied = 0

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_number", #threads)
end

-- wrk counts statuses >= 400 only: count every answer outside 2xx (and beats not applied).
function response(status, headers, body)
  if status < 200 or status > 299 then
    bad_status = bad_status + 1
  elseif @@BEATS@@ and string.find(body, '"applied":false', 1, true) then
    not_applied = not_applied + 1
  end
end

function done(summary, latency, requests)
  local bad, skipped = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("bad_status") or 0)
    skipped = skipped + (thread:get("not_applied") or 0)
  end
  io.write(string.format("Non-2xx answers: %d\\nBeats not applied: %d\\n", bad, skipped))
end
"""

READ_LUA = """-- generated by bench/media_history.py: GET a random path of the file, bearer token
local headers = { ["Authorization"] = @@AUTHORIZATION@@ }
local requests = {}

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
  for line in io.lines(@@FILE@@) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("GET", line, headers)
    end
  end
end

function request()
  return requests[math.random(#requests)]
end
"""

BEAT_LUA = """-- generated by bench/media_history.py: POST a random viewer's next beat
local headers = {
  ["Authorization"] = @@AUTHORIZATION@@,
  ["Content-Type"] = "application/json",
}
local step = @@STEP@@
local users, videos, durations, positions, episodes = {}, {}, {}, {}, {}
local body = '{"video_id":"%s","position_seconds":%.1f,"duration_seconds":%.1f,'
  .. '"device":"tv","entry_id":"%s"}'

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
  for line in io.lines(@@FILE@@) do
    local user, video, duration, position = line:match("^(%S+) (%S+) (%S+) (%S+)$")
    if user then
      users[#users + 1] = user
      videos[#videos + 1] = video
      durations[#durations + 1] = tonumber(duration)
      positions[#positions + 1] = tonumber(position)
      episodes[#episodes + 1] = 0
    end
  end
end

local function uuid4()
  local r = math.random
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x", r(0, 65535), r(0, 65535),
    r(0, 65535), r(0, 4095), r(32768, 49151), r(0, 65535), r(0, 65535), r(0, 65535))
end

function request()
  local i = math.random(#users)
  local position = positions[i] + step
  if position > durations[i] then -- the video ended: the next episode
    episodes[i] = episodes[i] + 1
    videos[i] = videos[i]:gsub("-e%d+$", "") .. "-e" .. episodes[i]
    position = step
  end
  positions[i] = position
  local beat = string.format(body, videos[i], position, durations[i], uuid4())
  return wrk.format("POST", "/v1/profiles/" .. users[i] .. "/history", headers, beat)
end
"""


def write_script(workdir: Path, name: str, template: str, data: list[str], token: str) -> Path:
    data_file = workdir / f"{name}.txt"
    data_file.write_text("".join(f"{line}\n" for line in data))
    script = workdir / f"{name}.lua"
    text = (template + LUA_COUNTERS).replace("@@BEATS@@", str(name == BEATS).lower())
    text = text.replace("@@FILE@@", pr._lua_string(str(data_file)))
    text = text.replace("@@AUTHORIZATION@@", pr._lua_string(f"Bearer {token}"))
    script.write_text(text.replace("@@STEP@@", f"{BEAT_STEP_SECONDS:g}"))
    return script


async def postgres_pid(dsn: str) -> int | None:
    """PostgreSQL's postmaster (a backend's parent), when it runs on this machine."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:  # read /proc while the backend is alive
        backend = Path(f"/proc/{await conn.fetchval('SELECT pg_backend_pid()')}")
        if "postgres" not in (backend / "comm").read_text():
            return None
        return int((backend / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None
    finally:
        await conn.close()


def backing_cpu(postgres: int | None, client: redis.Redis) -> dict[str, float]:
    """CPU seconds so far of PostgreSQL's processes (all of them: other databases' too) and
    of Redis (its INFO)."""
    found = {}
    if postgres is not None:
        found["postgres"] = sum(pr._cpu_seconds(p) for p in pr._process_tree(postgres))
    try:
        info = client.info("cpu")
        found["redis"] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    except redis.RedisError:
        pass
    return found


@dataclass
class Run:
    wrk: pr.WrkResult
    backing_cpu_us_per_request: dict[str, float]  # postgres, redis
    not_applied: int  # beats answered 200 with "applied": false (a race or a retry)


def measure(
    wrk: str,
    server: pr.Server,
    target: str,
    script: Path,
    args: argparse.Namespace,
    duration: float,
    round_number: int,
    backing: tuple[int | None, redis.Redis],
) -> Run:
    before = backing_cpu(*backing)
    result = pr.run_wrk(wrk, server, script, args, duration, round_number)
    after = backing_cpu(*backing)
    counted = {
        name: int(m.group(1)) if (m := re.search(rf"^{name}: (\d+)", result.raw, re.M)) else 0
        for name in ("Non-2xx answers", "Beats not applied")
    }
    # wrk's own count is of statuses >= 400; the script's, of every answer outside 2xx.
    result = replace(result, target=target, non_2xx=max(result.non_2xx, counted["Non-2xx answers"]))
    per_request = 1e6 / max(result.requests, 1)
    cpu = {k: round((after[k] - before[k]) * per_request, 1) for k in after if k in before}
    return Run(result, cpu, counted["Beats not applied"])


def summarize(runs: list[Run]) -> dict[str, dict[str, Any]]:
    summary = pr.summarize([r.wrk for r in runs], list(TARGETS))
    for target, row in summary.items():
        mine = [r for r in runs if r.wrk.target == target]
        row["p99_ms_worst"] = max(r.wrk.p99_ms for r in mine)
        for name in ("postgres", "redis"):
            values = [r.backing_cpu_us_per_request.get(name) for r in mine]
            if None not in values:
                row[f"{name}_cpu_us_per_request_median"] = round(statistics.median(values), 1)
        row["not_applied"] = sum(r.not_applied for r in mine)
    return summary


# --------------------------------------------------------------------------------------- run

TARGETS = (BEATS, CONTINUE, PROFILE)


def benchmark(
    args: argparse.Namespace,
    wrk: str,
    media: Media,
    workdir: Path,
    servers: list[pr.Server],
    dsn: str,
    url: str,
) -> dict[str, Any]:
    pool = asyncio.run(pr.pool_size_per_worker(dsn, 1, args.workers, args.connections))
    # Rate limits stay on, as in profiles_read.py, with quotas wrk's two tokens cannot reach.
    quota = {"PROFILESTORE_RATE_LIMIT_SERVICE_PER_MINUTE": str(10**9)}
    server = pr.start_profilestore(
        "profilestore-media",
        url,
        args.workers,
        "WARNING",
        workdir,
        pool,
        cached=True,
        extra_env=quota,
    )
    servers.append(server)
    pr.wait_healthy(server)
    # A player back end calls the media routes with a service token (the access rule lets
    # the owner, admins and services through); the profile read keeps profiles_read's admin.
    service, admin = pr.mint_token("bench-player", "service"), pr.mint_token()
    sanity_check(server, media, service, admin)
    users = [p[0] for p in media.playing]
    scripts = {
        BEATS: write_script(
            workdir, BEATS, BEAT_LUA, [" ".join(map(str, p)) for p in media.playing], service
        ),
        CONTINUE: write_script(
            workdir,
            CONTINUE,
            READ_LUA,
            [f"/v1/profiles/{u}/continue-watching" for u in users],
            service,
        ),
        PROFILE: write_script(
            workdir, PROFILE, READ_LUA, [f"/v1/profiles/{u}" for u in users], admin
        ),
    }
    backing = (asyncio.run(postgres_pid(dsn)), redis.Redis.from_url(pr.REDIS_URL))
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency, "
        f"{args.rounds} rounds, targets alternate: {', '.join(TARGETS)}; random viewer among "
        f"{len(users):,}; {args.workers} workers, pool {pool} each; {os.cpu_count()} CPUs"
    )
    load_before = os.getloadavg()
    warm = [
        measure(wrk, server, target, scripts[target], args, args.warmup, 0, backing)
        for target in (TARGETS if args.warmup > 0 else ())
    ]
    runs: list[Run] = []
    for round_number in range(1, args.rounds + 1):
        for target in TARGETS:
            run = measure(
                wrk, server, target, scripts[target], args, args.duration, round_number, backing
            )
            runs.append(run)
            r, cpu = run.wrk, run.backing_cpu_us_per_request
            print(
                f"  round {round_number} {target:<17} {r.requests_per_second:>7.0f} req/s  "
                f"p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  "
                f"server {r.cpu_us_per_request:5.0f} us/req  "
                f"postgres {cpu.get('postgres', 0):5.0f}  redis {cpu.get('redis', 0):4.0f}"
                + (f"  not applied {run.not_applied}" if target == BEATS else "")
                + ("  <-- ERRORS" if r.errors else "")
            )
    return {
        "runs": runs,
        "beats_sent": 1 + sum(r.wrk.requests for r in warm + runs if r.wrk.target == BEATS),
        "pool": pool,
        "load_before": load_before,
        "tables": asyncio.run(table_stats(dsn)),
        "continue_cache_one_worker": cache_counts(server, "continue"),
    }


async def table_stats(dsn: str) -> dict[str, dict[str, int]]:
    """Rows of the tables beats write, and their updates as PostgreSQL's statistics count them
    (a HOT update writes no index entry)."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        found = {}
        for table in ("media_history", "media_resume_points", "outbox"):
            row = await conn.fetchrow(
                "SELECT n_tup_upd, n_tup_hot_upd, n_dead_tup FROM pg_stat_user_tables"
                " WHERE relname = $1",
                table,
            )
            found[table] = {
                "rows": int(await conn.fetchval(f"SELECT count(*) FROM {table}")),
                "updates": row["n_tup_upd"],
                "hot_updates": row["n_tup_hot_upd"],
                "dead_rows": row["n_dead_tup"],
            }
        return found
    finally:
        await conn.close()


def cache_counts(server: pr.Server, cache: str) -> dict[str, float]:
    """One worker's cache look-ups of ``cache`` by result (its /metrics: near_hit, hit, miss)."""
    with urllib.request.urlopen(f"{server.base}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = rf'^profilestore_cache_requests_total\{{cache="{cache}",result="(\w+)"\}} (\S+)$'
    return {m.group(1): float(m.group(2)) for m in re.finditer(pattern, text, re.M)}


def report(args: argparse.Namespace, media: Media, measured: dict[str, Any]) -> dict[str, Any]:
    runs: list[Run] = measured["runs"]
    summary = summarize(runs)
    print()
    pr.print_table(summary)
    print("backing services, CPU per request (median; PostgreSQL: all its processes):")
    for target, row in summary.items():
        print(
            f"  {target:<17} postgres {row.get('postgres_cpu_us_per_request_median', '-'):>7} us"
            f"   redis {row.get('redis_cpu_us_per_request_median', '-'):>6} us"
        )
    tables, looked_up = measured["tables"], measured["continue_cache_one_worker"]
    history, points = tables["media_history"], tables["media_resume_points"]
    sent, opened = measured["beats_sent"], history["rows"] - len(media.history)
    print(
        f"beats: {sent:,} sent (warm-up included), {summary[BEATS]['not_applied']} answered "
        f"applied=false; they opened {opened:,} history entries ({opened / sent:.0%}) and "
        f"{points['rows'] - len(media.points):,} resume points, wrote "
        f"{tables['outbox']['rows']:,} outbox events; HOT updates: history "
        f"{history['hot_updates']:,} of {history['updates']:,}, resume points "
        f"{points['hot_updates']:,} of {points['updates']:,}"
    )
    total = sum(looked_up.values()) or 1
    print(
        "continue-watching cache, one worker's look-ups: "
        + ", ".join(f"{k} {v:,.0f} ({v / total:.0%})" for k, v in sorted(looked_up.items()))
    )
    cw = summary[CONTINUE]
    met = cw["p99_ms_worst"] < TARGET_P99_MS
    print(
        f"\nseed target: continue-watching p99 < {TARGET_P99_MS:g} ms at the measured load "
        f"({cw['rps_median']:.0f} req/s median, wrk -c{args.connections}): p99 "
        f"{cw['p99_ms_median']:.1f} ms (median of rounds), {cw['p99_ms_worst']:.1f} ms (worst "
        f"round): {'met' if met else 'NOT MET'}"
    )
    ratio = {
        "best": round(summary[BEATS]["rps_best"] / summary[PROFILE]["rps_best"], 3),
        "median": round(summary[BEATS]["rps_median"] / summary[PROFILE]["rps_median"], 3),
    }
    print(
        f"beats/s / profile-read req/s: {ratio['best']:.2f}x (best), {ratio['median']:.2f}x "
        f"(median); continue-watching / profile-read: "
        f"{cw['rps_median'] / summary[PROFILE]['rps_median']:.2f}x (median)"
    )
    return {
        "summary": summary,
        "continue_watching_p99_target_ms": TARGET_P99_MS,
        "continue_watching_p99_met": met,
        "beats_vs_profile_read": ratio,
        "beats_sent": sent,
        "history_entries_opened": opened,
    }


def print_invalid(runs: list[Run], server: pr.Server) -> None:
    bar = "!" * 78
    print(f"\n{bar}\nINVALID: non-2xx answers or socket errors while measuring:", file=sys.stderr)
    for run in runs:
        if run.wrk.errors:
            r = run.wrk
            print(
                f"  {r.target} round {r.round}: non-2xx {r.non_2xx}, socket {r.socket_errors}",
                file=sys.stderr,
            )
    print(
        "These figures do not measure successful requests. Log:\n"
        f"{pr._tail(server.log_path, 15)}\n{bar}",
        file=sys.stderr,
    )


# -------------------------------------------------------------------------------------- main


def worktree_changes() -> list[str] | None:
    """Files of src/ that differ from the commit (the figures are of the tree as it ran)."""
    done = subprocess.run(
        ["git", "-C", str(pr.ROOT), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line[3:] for line in done.stdout.splitlines()] if done.returncode == 0 else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 100,000 history rows, 2 x 5 s"
    )
    parser.add_argument("--users", type=int, default=10_000, help="viewers (profiles) (10000)")
    parser.add_argument("--history-rows", type=int, help="history entries (1000000; quick 100000)")
    parser.add_argument("--points", type=int, default=20, help="resume points per viewer (20)")
    parser.add_argument("--duration", type=float, help="seconds per measured run (15; quick 5)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per target (5; quick 2)")
    parser.add_argument("--rounds", type=int, help="measured runs per target (3; quick 2)")
    parser.add_argument("--connections", "-c", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", "-t", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (2)")
    parser.add_argument("--seed", type=int, default=20_26, help="data seed")
    parser.add_argument("--pg-host", default=os.environ.get("BENCH_PG_HOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("BENCH_PG_PORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("BENCH_PG_USER", "postgres"))
    args = parser.parse_args(argv)
    args.history_rows = args.history_rows or (100_000 if args.quick else 1_000_000)
    args.duration = args.duration or (5.0 if args.quick else 15.0)
    args.warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else 5.0)
    args.rounds = args.rounds or (2 if args.quick else 3)
    if args.users < 2 or args.history_rows < args.users or args.points < 1:
        parser.error("needs 2+ users, a history entry per user and a resume point per user")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("ERROR: `wrk` is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    db_name = f"ps_bench_media_{uuid.uuid4().hex[:12]}"
    dsn = f"postgresql://{args.pg_user}@{args.pg_host}:{args.pg_port}/{db_name}"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    servers: list[pr.Server] = []
    created = False
    with pr.terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="ps-bench-media-") as tmp:
        try:
            asyncio.run(pr._admin(args, f'CREATE DATABASE "{db_name}"'))
            created = True
            print(
                f"database {db_name}: migrating, loading {args.users:,} profiles, "
                f"{args.history_rows:,} history entries, {args.points} resume points a viewer..."
            )
            started = time.monotonic()
            runner.upgrade(url)
            media = asyncio.run(load(dsn, args))
            load_seconds = round(time.monotonic() - started, 1)
            print(
                f"  {len(media.history):,} history entries, {len(media.points):,} resume points:"
                f" generated, migrated and loaded in {load_seconds:.1f}s"
            )
            measured = benchmark(args, wrk, media, Path(tmp), servers, dsn, url)
            figures = report(args, media, measured)
            runs: list[Run] = measured["runs"]
            valid = not any(r.wrk.errors for r in runs)
            if not valid:
                print_invalid(runs, servers[0])
            pr.RESULTS_DIR.mkdir(exist_ok=True)
            out = pr.RESULTS_DIR / f"media_history-{stamp}.json"
            document = {
                "benchmark": "media_history",
                "timestamp": stamp,
                "valid": valid,
                "git_commit": pr._git_commit(),
                "git_worktree_changes": worktree_changes(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "loadavg_before": [round(x, 2) for x in measured["load_before"]],
                    "python": sys.version.split()[0],
                },
                "config": {
                    "users": args.users,
                    "history_rows": len(media.history),
                    "resume_points": len(media.points),
                    "load_seconds": load_seconds,
                    "wrk": pr.wrk_version(wrk),
                    "wrk_threads": args.threads,
                    "wrk_connections": args.connections,
                    "duration_s": args.duration,
                    "warmup_s": args.warmup,
                    "rounds": args.rounds,
                    "server_workers": args.workers,
                    "database_pool_per_process": measured["pool"],
                    "database": db_name,
                    "quick": args.quick,
                },
                **figures,
                "tables_after": measured["tables"],
                "continue_cache_one_worker": measured["continue_cache_one_worker"],
                "runs": [
                    {k: v for k, v in asdict(r.wrk).items() if k != "raw"}
                    | {"backing_cpu_us_per_request": r.backing_cpu_us_per_request}
                    | {"not_applied": r.not_applied}
                    for r in runs
                ],
                "wrk_output": {f"{r.wrk.target}#{r.wrk.round}": r.wrk.raw for r in runs},
            }
            out.write_text(json.dumps(document, indent=2) + "\n")
            print(f"\nwrote {out.relative_to(pr.ROOT)}")
            return 0 if valid else 1
        except KeyboardInterrupt:
            print("interrupted: cleaning up", file=sys.stderr)
            return 130
        finally:
            for server in servers:
                pr.stop(server)
            if created:
                asyncio.run(pr._admin(args, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
                print(f"dropped database {db_name}")


if __name__ == "__main__":
    sys.exit(main())
