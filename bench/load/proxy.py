"""A TCP proxy between the gateway and one service, with network faults switched on and off under load.

toxiproxy is not packaged for this machine (neither Debian nor PyPI ships its
server), and shaping loopback traffic with `tc netem` would slow every other
process using it, so faults are added here, to one service's traffic only:

- latency: every chunk of bytes is delivered `latency_ms` later, each way;
- packet loss, as TCP shows it to gRPC: a lost segment is not missing data but
  a retransmission `retransmit_ms` later (Linux's minimum RTO is 200 ms), and
  every byte behind it in the connection waits for it (head-of-line blocking).
  Each chunk is "lost" with probability `loss`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from dataclasses import dataclass


@dataclass
class NetworkFaults:
    latency_ms: float = 0.0
    loss: float = 0.0
    retransmit_ms: float = 200.0

    def delay_seconds(self, chance: random.Random) -> float:
        lost = self.loss > 0 and chance.random() < self.loss
        return (self.latency_ms + (self.retransmit_ms if lost else 0.0)) / 1000


class FaultyProxy:
    """Listens on a free loopback port and forwards every connection to `upstream` (host:port)."""

    def __init__(self, upstream: str, seed: int = 15) -> None:
        self.upstream_host, port = upstream.rsplit(":", 1)
        self.upstream_port = int(port)
        self.faults = NetworkFaults()
        self._chance = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FaultyProxy:
        threading.Thread(target=self._run, name="faulty-proxy", daemon=True).start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            client_writer.close()  # the service is down: the gateway sees a refused connection, as without the proxy
            return
        pumps = [asyncio.create_task(self._pump(client_reader, upstream_writer)), asyncio.create_task(self._pump(upstream_reader, client_writer))]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        for writer in (client_writer, upstream_writer):
            writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Bytes one way, each chunk released at its delivery time, in order (a late chunk holds back the rest)."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._deliver(queue, writer))
        due = 0.0
        try:
            while data := await reader.read(65536):
                due = max(due, time.monotonic() + self.faults.delay_seconds(self._chance))
                queue.put_nowait((due, data))
            queue.put_nowait((due, b""))
            await sender
        finally:
            sender.cancel()

    async def _deliver(self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
