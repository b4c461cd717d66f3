"""bench/countproxy.py — a TCP relay that counts every byte each way.

    python3 countproxy.py LISTEN_PORT TARGET_PORT STATS_FILE

Listens on 127.0.0.1:LISTEN_PORT and relays each connection to
127.0.0.1:TARGET_PORT. STATS_FILE is rewritten (JSON: connections,
to_target, from_target) every 0.2 s and at exit (TERM). The upload
benchmark puts it between the browser and the portal: every byte the
portal receives from or sends to the browser passes through here.
"""

import asyncio
import json
import os
import signal
import sys

stats = {"connections": 0, "to_target": 0, "from_target": 0}


def save(path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(stats, f)
    os.replace(tmp, path)


async def pipe(reader, writer, counter):
    try:
        while data := await reader.read(65536):
            stats[counter] += len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main(listen, target, path):
    async def handle(client_r, client_w):
        stats["connections"] += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, up_w, "to_target"), pipe(up_r, client_w, "from_target"))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        while not stop.is_set():
            save(path)
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except asyncio.TimeoutError:
                pass
    save(path)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
