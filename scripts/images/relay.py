"""A TCP relay: `python relay.py LISTEN_HOST:PORT TARGET_HOST:PORT` accepts connections and pipes each one to
the target, both ways, until either side closes.

`make images-check` needs it because `voiceagent call` serves the caller's recordings on the host's loopback
and names them http://127.0.0.1:PORT/..., while the gateway that fetches them runs in a container: one relay
listens on that port inside the gateway's network namespace and forwards to a second one on the host's side of
the container network, which forwards to the recording server.
"""

import asyncio
import sys


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def main(listen: tuple[str, int], target: tuple[str, int]) -> None:
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, target_writer), pipe(target_reader, writer), return_exceptions=True)

    server = await asyncio.start_server(relay, *listen)
    print(f"relaying {listen[0]}:{listen[1]} to {target[0]}:{target[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(address(sys.argv[1]), address(sys.argv[2])))
