"""``profilestore serve`` as a real process for tests: a free loopback port, the wait until it
answers, and a clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import TEST_SECRET

BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(base: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("server did not come up")


def service_env(**settings: str) -> dict[str, str]:
    """This process's environment without any PROFILESTORE_ setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROFILESTORE_")}
    return env | {f"PROFILESTORE_{name.upper()}": value for name, value in settings.items()}


def postgres_env(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """A server on PostgreSQL with the tests' secret, quiet logs and no rate limits."""
    return service_env(
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        data_dir=str(data_dir),
        log_level="WARNING",
        rate_limit_enabled="false",
        **settings,
    )


@contextmanager
def serving(
    env: dict[str, str], workdir: Path, extra_args: list[str] | None = None, timeout: float = 30
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """A ``profilestore serve`` process in its own process group: (base URL, process, log
    file). SIGTERM afterwards, then SIGKILL to the whole group (uvicorn's workers would outlive
    a killed master, and keep serving)."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(BIN / "profilestore"), "serve", "--port", str(port), *(extra_args or [])],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server, timeout=timeout)
        yield base, server, log_path
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=15)
        kill_group(server)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a server's whole process group (its workers too), as a crashed host would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def running_server(
    env: dict[str, str], workdir: Path, extra_args: list[str] | None = None
) -> Iterator[tuple[str, Path]]:
    """A ``profilestore serve`` process: (base URL, its log file)."""
    with serving(env, workdir, extra_args) as (base, _, log_path):
        yield base, log_path
