"""Open-loop load generator: GET requests at a fixed arrival rate, whatever the server does.

Request ``i`` is scheduled at ``start + i / rate``; its latency is measured from that scheduled
time, not from when it could actually be sent, so a server that stalls is charged for every
request that should have gone out meanwhile (no "coordinated omission", unlike a closed loop
such as wrk, where a slow answer holds back the next request). A pool of keep-alive HTTP/1.1
connections (raw asyncio streams, uvloop when installed) carries the requests; a request waits
for a free connection if all are busy, and that wait counts in its latency.

A request whose latency would exceed ``--timeout`` counts as a timeout error, sent or not: that
bounds the run to about ``duration + timeout`` however far behind the server falls.

    .venv/bin/python bench/open_loop.py --url http://127.0.0.1:8000/v1/profiles/ \\
        --ids-file ids.txt --header "Authorization: Bearer $TOKEN" --rate 1000 --duration 30

Each request is the URL followed by an id picked at random from ``--ids-file`` (one a line).
Prints one JSON document (latency percentiles in ms, achieved rate, errors, and the generator's
own CPU and send lag, to show it was not the bottleneck); exits 1 if there was any error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, 2xx answers only
    # actual send - scheduled, seconds: when a connection was free before the scheduled time
    # (the generator's own timer precision), and when none was (the server is behind)
    timer_lag: list[float] = field(default_factory=list)
    connection_wait: list[float] = field(default_factory=list)
    responses: int = 0
    non_2xx: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    last_done: float = 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.timeouts + self.connection_errors


class Connection:
    """One keep-alive HTTP/1.1 connection; reads Content-Length, chunked and read-to-close
    answers."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, data: bytes) -> int:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(data)
        reader = self.reader
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length: int | None = None
        chunked, close = False, head.startswith(b"HTTP/1.0")
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower() or (close and b"keep-alive" not in value.lower())
        if chunked:
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b""):
                        pass  # trailers
                    break
                await reader.readexactly(size + 2)
        elif length is not None:
            await reader.readexactly(length)
        elif status >= 200 and status not in (204, 304):
            await reader.read()  # no length: the body ends with the connection
            close = True
        if close:
            self.close()
        return status


def build_requests(url: str, ids: list[str], headers: list[str]) -> tuple[str, int, list[bytes]]:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise SystemExit(f"only http:// URLs are supported, not {url!r}")
    port = parts.port or 80
    host_header = parts.netloc
    extra = "".join(f"{h.strip()}\r\n" for h in headers)
    target = parts.path + (f"?{parts.query}" if parts.query else "")  # ids go after a query too
    requests = [
        f"GET {target}{user_id} HTTP/1.1\r\nHost: {host_header}\r\n{extra}\r\n".encode()
        for user_id in ids
    ]
    return parts.hostname, port, requests


async def run(args: argparse.Namespace, requests: list[bytes], host: str, port: int) -> Tally:
    # Time stamps from perf_counter: uvloop's loop.time() has millisecond resolution.
    now = time.perf_counter
    tally = Tally()
    total = int(args.rate * args.duration)
    interval = 1.0 / args.rate
    timeout = args.timeout
    choose = random.Random(args.seed).choice
    connections = [Connection(host, port) for _ in range(args.connections)]
    await asyncio.gather(*(c.open() for c in connections))  # connect before the clock starts
    next_index = 0
    start = now() + 0.05

    async def worker(conn: Connection) -> None:
        nonlocal next_index
        while next_index < total:
            scheduled = start + next_index * interval
            next_index += 1
            delay = scheduled - now()
            if delay > 0:
                await asyncio.sleep(delay)
                sent = now()
                tally.timer_lag.append(sent - scheduled)
            else:
                sent = now()
                tally.connection_wait.append(sent - scheduled)
            if sent >= scheduled + timeout:  # its latency is past the timeout already
                tally.timeouts += 1
                continue
            try:
                # Relative: asyncio.timeout_at() would read the loop's clock, not ours.
                async with asyncio.timeout(scheduled + timeout - sent):
                    status = await conn.request(choose(requests))
            except TimeoutError:
                tally.timeouts += 1
                conn.close()  # an answer may still be on its way: start afresh
                continue
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                tally.connection_errors += 1
                conn.close()
                continue
            done = now()
            tally.last_done = done - start
            tally.responses += 1
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                # From the scheduled time, or from the actual send when the timer fired a
                # little early (uvloop's timers have millisecond resolution).
                tally.latencies.append(done - min(scheduled, sent))
            else:
                tally.non_2xx += 1

    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for conn in connections:
            conn.close()
    return tally


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered), max(1, math.ceil(p / 100 * len(ordered)))) - 1]


def report(args: argparse.Namespace, tally: Tally, cpu: float, wall: float) -> dict[str, Any]:
    lat = sorted(tally.latencies)
    lag = sorted(tally.timer_lag)
    wait = sorted(tally.connection_wait)

    def ms(value: float) -> float | None:
        return None if math.isnan(value) else round(value * 1000, 3)

    scheduled = int(args.rate * args.duration)
    return {
        "url": args.url,
        "rate": args.rate,
        "duration_s": args.duration,
        "connections": args.connections,
        "timeout_s": args.timeout,
        "scheduled": scheduled,
        "responses": tally.responses,
        "ok": len(lat),
        "achieved_rps": round(len(lat) / tally.last_done, 1) if tally.last_done else 0.0,
        "errors": tally.errors,
        "error_kinds": {
            "non_2xx": tally.non_2xx,
            "timeout": tally.timeouts,
            "connection": tally.connection_errors,
        },
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "latency_ms": {
            "p50": ms(percentile(lat, 50)),
            "p90": ms(percentile(lat, 90)),
            "p99": ms(percentile(lat, 99)),
            "p99.9": ms(percentile(lat, 99.9)),
            "max": ms(lat[-1]) if lat else None,
            "mean": ms(sum(lat) / len(lat)) if lat else None,
        },
        # The generator's timer precision: how late (or, rarely, early) a request left when a
        # connection was free for it before its scheduled time.
        "timer_lag_ms": {
            "p50": ms(percentile(lag, 50)),
            "p99": ms(percentile(lag, 99)),
            "max": ms(lag[-1]) if lag else None,
        },
        # Requests that found every connection busy at their scheduled time: the server is
        # behind (or --connections is too small); the wait is part of their latency.
        "waited_for_connection": len(wait),
        "connection_wait_ms": {
            "p50": ms(percentile(wait, 50)),
            "p99": ms(percentile(wait, 99)),
            "max": ms(wait[-1]) if wait else None,
        },
        "generator_cpu_s": round(cpu, 3),
        "generator_cpu_percent": round(100 * cpu / wall, 1) if wall else None,
        "event_loop": args.loop_name,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--url", required=True, help="http://host:port/path/ (ids are appended)")
    parser.add_argument("--ids-file", required=True, type=Path, help="ids, one a line")
    parser.add_argument("--header", action="append", default=[], help='"Name: value", repeatable')
    parser.add_argument("--rate", type=float, default=1000.0, help="requests/s (1000)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of arrivals (30)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (64)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds from schedule (5)")
    parser.add_argument("--seed", type=int, default=1, help="id choice seed")
    parser.add_argument(
        "--no-uvloop", dest="uvloop", action="store_false", help="plain asyncio event loop"
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.connections < 1:
        parser.error("--rate, --duration and --connections must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ids = [line.strip() for line in args.ids_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise SystemExit(f"no ids in {args.ids_file}")
    host, port, requests = build_requests(args.url, ids, args.header)
    loop_factory = None
    args.loop_name = "asyncio"
    if args.uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            loop_factory = uvloop.new_event_loop
            args.loop_name = "uvloop"
    cpu_before, wall_before = time.process_time(), time.monotonic()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        tally = runner.run(run(args, requests, host, port))
    cpu, wall = time.process_time() - cpu_before, time.monotonic() - wall_before
    print(json.dumps(report(args, tally, cpu, wall), indent=2))
    return 1 if tally.errors else 0


if __name__ == "__main__":
    sys.exit(main())
