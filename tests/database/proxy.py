"""A TCP proxy the database tests own, to make faults without touching a shared server.

Modes: ``pass`` (forward), ``refuse`` (nothing listens: connect is refused), ``reset``
(accept, then close at once), ``blackhole`` (accept, never answer), ``slow`` (forward,
each chunk ``delay`` seconds late). ``flap(period)`` switches between ``pass`` and
``refuse`` every ``period`` seconds. Changing mode cuts the connections in flight, as
a server crash would. ``accepted`` counts the connections clients opened, ``open`` those
still open, so a test can see a client hang up without asking a shared server (whose
client list other processes change). Runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Literal

from tests.helpers import free_port

Mode = Literal["pass", "refuse", "reset", "blackhole", "slow"]


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "pass"
        self.delay = 0.0
        self.accepted = 0
        self.open = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flapper: asyncio.Task[None] | None = None
        self.port: int = free_port()

    # --- control (called from the test thread) -------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def set(self, mode: Mode, delay: float = 0.0) -> None:
        self._call(self._set(mode, delay))

    def flap(self, period: float) -> None:
        """Alternate ``pass`` and ``refuse`` every ``period`` seconds until ``set``."""
        self._call(self._start_flap(period))

    def stop(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, coro: object) -> None:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        future.result(timeout=10)

    # --- inside the proxy's loop ---------------------------------------------------

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _set(self, mode: Mode, delay: float, from_flapper: bool = False) -> None:
        if not from_flapper and self._flapper is not None:
            self._flapper.cancel()
            self._flapper = None
        self.mode, self.delay = mode, delay
        await self._cut()
        if mode == "refuse":
            await self._unlisten()
        else:
            await self._listen()

    async def _start_flap(self, period: float) -> None:
        if self._flapper is not None:
            self._flapper.cancel()

        async def flapper() -> None:
            up = False
            while True:
                await self._set("pass" if up else "refuse", 0.0, from_flapper=True)
                up = not up
                await asyncio.sleep(period)

        self._flapper = asyncio.ensure_future(flapper())

    async def _close(self) -> None:
        if self._flapper is not None:
            self._flapper.cancel()
        await self._unlisten()
        await self._cut()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self._writers.add(writer)
        mode = self.mode
        try:
            if mode == "reset" or mode == "refuse":
                writer.transport.abort()
                return
            if mode == "blackhole":
                await reader.read(-1)  # until the client gives up
                return
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            self._writers.add(up_writer)
            await asyncio.gather(
                self._pump(reader, up_writer), self._pump(up_reader, writer),
                return_exceptions=True,
            )
        except OSError:
            pass  # the client or upstream went away: exactly what a fault looks like
        finally:
            writer.transport.abort()
            self._writers.discard(writer)
            self.open -= 1

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await src.read(65536)
                if not data:
                    break
                if self.delay:
                    await asyncio.sleep(self.delay)
                dst.write(data)
                await dst.drain()
        finally:
            with contextlib.suppress(OSError):
                dst.transport.abort()
            self._writers.discard(dst)
