"""The HTTP protocol ``profilestore serve`` runs under uvicorn: httptools, one write per answer.

uvicorn's httptools protocol writes a response's status line and headers, then its body, with
two ``transport.write`` calls; on uvloop each is a ``send()`` system call and, with
``TCP_NODELAY``, its own TCP segment, so a small JSON answer costs two trips through the
kernel's network stack (on loopback the receiver's side of each is paid by the sender too).
:class:`CoalescingHttpToolsProtocol` gives the protocol a transport that holds the writes made
in one step of the event loop and sends them as one at the end of that step, so the headers
and body of an answer built without waiting leave together. A response that streams (server-sent
events) still leaves chunk by chunk: nothing is held past the step that wrote it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport whose writes wait for the end of the current event-loop step.

    Everything but ``write``, ``close`` and the write-buffer size goes to the real transport.
    Order is kept: held bytes always leave before anything written later, and before a close.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def flush(self) -> None:
        """Send what is held (called at the end of the step, and before a close)."""
        held = self._held
        if not held:
            return
        self._held = []
        if self._transport.is_closing():
            return
        self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self._held)) + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        held = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(held)  # type: ignore[arg-type]
