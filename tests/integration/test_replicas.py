"""Replicas for real: 3 `profilestore serve` processes (2 workers each) behind nginx, sharing
PostgreSQL and Redis. A change written through one replica is read at once through the
others, never stale (profile, block, presence), over 1,000 random write/read pairs; then one
replica is killed and no request through nginx fails."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.serving import free_port, kill_group, postgres_env, serving, wait_until_up
from tests.support import SERVICE, bearer, postgres_database, skip_or_fail

REPLICAS = 3
PAIRS = 1000
USERS = 12
REDIS_URL = "redis://127.0.0.1:6379/0"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream profilestore {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://profilestore;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout non_idempotent;
            proxy_connect_timeout 1s;
        }}
    }}
}}
"""


@contextmanager
def replica(env: dict[str, str], workdir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with serving(env, workdir, ["--workers", "2"], timeout=60) as (base, process, _):
        yield base, process


@contextmanager
def nginx(bases: list[str], workdir: Path) -> Iterator[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        skip_or_fail("nginx is not installed (apt-get install nginx-light)")
    workdir.mkdir()
    port = free_port()
    servers = "\n".join(
        f"        server {base.removeprefix('http://')} max_fails=1 fail_timeout=5s;"
        for base in bases
    )
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, servers=servers, port=port))
    process = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(workdir), "-e", str(workdir / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Checker:
    """Random write/read pairs: each write through one replica, its read through another."""

    def __init__(self, bases: list[str], users: list[uuid.UUID], seed: int) -> None:
        self.bases = bases
        self.users = users
        self.random = random.Random(seed)
        # No keep-alive: each request is a new connection, so either worker may answer.
        self.http = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10)
        self.blocked: set[tuple[uuid.UUID, uuid.UUID]] = set()
        self.stale: list[str] = []

    def two_replicas(self) -> tuple[str, str]:
        writer, reader = self.random.sample(self.bases, 2)
        return writer, reader

    def pair(self) -> str:
        kind = self.random.choice(["profile", "block", "presence"])
        getattr(self, kind)(*self.two_replicas())
        return kind

    def profile(self, writer: str, reader: str) -> None:
        user = self.random.choice(self.users)
        name = f"n{self.random.randrange(10**9)}"
        written = self.http.patch(
            f"{writer}/v1/profiles/{user}",
            json={"display_name": name},
            headers={**bearer(user), **MERGE_PATCH},
        )
        assert written.status_code == 200, written.text
        read = self.http.get(f"{reader}/v1/profiles/{user}", headers=SERVICE)
        if read.json()["display_name"] != name:
            self.stale.append(f"profile {user}: {read.json()['display_name']} != {name}")

    def block(self, writer: str, reader: str) -> None:
        owner, other = self.random.sample(self.users, 2)
        url = f"{writer}/v1/profiles/{owner}/blocks/{other}"
        if (owner, other) in self.blocked:
            assert self.http.delete(url, headers=bearer(owner)).status_code == 204
            self.blocked.discard((owner, other))
        else:
            assert self.http.put(url, headers=bearer(owner)).status_code in (200, 201)
            self.blocked.add((owner, other))
        seen = self.http.get(f"{reader}/v1/profiles/{owner}", headers=bearer(other))
        expected = 404 if (owner, other) in self.blocked else 200
        if seen.status_code != expected:
            self.stale.append(f"block {owner}->{other}: {seen.status_code} != {expected}")
        check = self.http.get(
            f"{reader}/v1/blocks/check", params={"a": owner, "b": other}, headers=SERVICE
        )
        if check.json()["a_blocks_b"] != ((owner, other) in self.blocked):
            self.stale.append(f"block check {owner}->{other}")

    def presence(self, writer: str, reader: str) -> None:
        user = self.random.choice(self.users)
        status = self.random.choice(["online", "away", "busy", "offline"])
        beat = self.http.put(
            f"{writer}/v1/profiles/{user}/presence",
            json={"status": status, "device_id": "only"},
            headers=bearer(user),
        )
        assert beat.status_code == 200, beat.text
        read = self.http.get(f"{reader}/v1/profiles/{user}/presence", headers=SERVICE)
        if read.json()["status"] != status:
            self.stale.append(f"presence {user}: {read.json()['status']} != {status}")


@pytest.mark.slow
def test_replicas_behind_nginx_are_coherent_and_survive_a_kill(
    tmp_path: Path, redis_prefix: str
) -> None:
    with postgres_database() as database_url, ExitStack() as stack:
        env = postgres_env(
            database_url,
            tmp_path / "var",
            redis_url=REDIS_URL,
            cache_prefix=redis_prefix,
            database_pool_size="4",
            relay_in_process="false",
        )
        started = [
            stack.enter_context(replica(env, tmp_path / f"replica{i}")) for i in range(REPLICAS)
        ]
        bases = [base for base, _ in started]
        front = stack.enter_context(nginx(bases, tmp_path / "nginx"))
        users = [uuid.uuid4() for _ in range(USERS)]
        for user in users:
            body = {"username": f"r{user.hex[:12]}"}
            created = httpx.put(f"{front}/v1/profiles/{user}", json=body, headers=bearer(user))
            assert created.status_code == 201, created.text
        checker = Checker(bases, users, seed=9)
        began = time.monotonic()
        kinds = [checker.pair() for _ in range(PAIRS)]
        elapsed = time.monotonic() - began
        print(
            f"{PAIRS} write/read pairs across {REPLICAS} replicas in {elapsed:.1f} s "
            f"({kinds.count('profile')} profile, {kinds.count('block')} block, "
            f"{kinds.count('presence')} presence): {len(checker.stale)} stale"
        )
        assert checker.stale == []

        _, victim = started[0]
        kill_group(victim)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{bases[0]}/health", timeout=2)  # the replica is gone, workers and all
        failures = []
        for index in range(200):
            user = users[index % USERS]
            answer = (
                httpx.get(f"{front}/v1/profiles/{user}", headers=SERVICE)
                if index % 2
                else httpx.patch(
                    f"{front}/v1/profiles/{user}",
                    json={"bio": f"after the kill {index}"},
                    headers={**bearer(user), **MERGE_PATCH},
                )
            )
            if answer.status_code != 200:
                failures.append(answer.status_code)
        assert failures == [], failures
