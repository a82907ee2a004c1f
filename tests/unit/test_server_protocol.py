"""The HTTP protocol ``profilestore serve`` runs: one answer leaves in one transport write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from profilestore.platform.server import CoalescingHttpToolsProtocol, CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """A transport that keeps what is written (and whether it was closed)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _next_step() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_of_one_step_leave_as_one_in_order() -> None:
    real = RecordingTransport()
    held = CoalescingTransport(real, asyncio.get_running_loop())
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    held.write(b"{}")
    assert real.writes == []
    assert held.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\n{}")
    await _next_step()
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    held.write(b"later")
    await _next_step()
    assert real.writes[-1] == b"later"


async def test_close_sends_what_is_held_first() -> None:
    real = RecordingTransport()
    held = CoalescingTransport(real, asyncio.get_running_loop())
    held.write(b"bye")
    held.close()
    assert real.writes == [b"bye"] and real.closed
    await _next_step()
    assert real.writes == [b"bye"]


async def test_nothing_is_written_to_a_closing_transport() -> None:
    real = RecordingTransport()
    held = CoalescingTransport(real, asyncio.get_running_loop())
    held.write(b"lost")
    real.closed = True
    await _next_step()
    assert real.writes == []


async def _json_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _streaming_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for chunk in (b"data: 1\n\n", b"data: 2\n\n"):
        await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _serve_one(app: Any) -> tuple[CoalescingHttpToolsProtocol, RecordingTransport]:
    config = Config(app=app, http=CoalescingHttpToolsProtocol, log_level="warning")
    config.load()
    protocol = CoalescingHttpToolsProtocol(config, ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(b"GET /v1/profiles/x HTTP/1.1\r\nhost: test\r\n\r\n")
    return protocol, transport


async def test_an_answer_leaves_in_one_write() -> None:
    _, transport = _serve_one(_json_app)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(transport.writes) == 1
    head, body = transport.writes[0].split(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and body == b'{"ok":true}'


async def test_a_stream_still_leaves_chunk_by_chunk() -> None:
    _, transport = _serve_one(_streaming_app)
    await asyncio.sleep(0.1)
    assert len(transport.writes) >= 3
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK")
    assert b"data: 1" in transport.writes[1] and b"data: 2" in b"".join(transport.writes[2:])


def test_serve_runs_the_coalescing_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from profilestore.cli import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    result = CliRunner().invoke(app, ["serve", "--no-migrate"])
    assert result.exit_code == 0, result.output
    config = Config(app=_json_app, http=seen["http"])
    config.load()
    assert config.http_protocol_class is CoalescingHttpToolsProtocol
