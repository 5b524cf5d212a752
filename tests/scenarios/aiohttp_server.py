"""An aiohttp server with client requests in flight (127.0.0.1 only).

An aiohttp.web application listens on 127.0.0.1, ephemeral port; its
handler parks on an Event.  Three client tasks "client-N" (one
aiohttp.ClientSession) each GET /park/N and wait for the response; the
oracle is written once the three requests are inside the handler.  The
graph has aiohttp's own server tasks (one per connection) next to the
client tasks.  python3-aiohttp is packaged for sid's default python3 only.
"""
import asyncio

import aiohttp
from aiohttp import web

import _oracle

VERSIONS = ("3.14",)
CLIENTS = 3

state = {"inside": 0}


async def handler(request):
    state["inside"] += 1
    if state["inside"] == CLIENTS:
        state["all_inside"].set()
    await state["park"].wait()
    return web.Response(text="never")


async def client(session, url):
    async with session.get(url) as response:
        await response.text()


async def main():
    state["park"] = asyncio.Event()
    state["all_inside"] = asyncio.Event()
    app = web.Application()
    app.router.add_get("/park/{n}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    # no client timeouts: the requests stay in flight as long as the process
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout())
    _oracle.keep(app, runner, site, session)
    for n in range(CLIENTS):
        asyncio.create_task(client(session, "http://127.0.0.1:%d/park/%d" % (port, n)),
                            name="client-%d" % n)
    await asyncio.wait_for(state["all_inside"].wait(), 30)
    _oracle.snapshot_when_parked()
    await state["park"].wait()


if __name__ == "__main__":
    _oracle.main(main)
