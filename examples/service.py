"""A small asyncio service that hangs: the demo target of py-async-graph.

A TaskGroup runs workers that wait on a queue nobody fills, a gather of
two fetches waits on an event nobody sets, and a shielded flush waits
forever. Every stack dump shows an idle event loop; the graph shows why.
"""
import asyncio
import sys


async def fetch(url, ready):
    await ready.wait()


async def gather_both(ready):
    await asyncio.gather(fetch("/a", ready), fetch("/b", ready))


async def worker(queue):
    while True:
        item = await queue.get()
        queue.task_done()


async def flush(ready):
    await ready.wait()


async def flush_guarded(ready):
    await asyncio.shield(flush(ready))


async def main():
    queue = asyncio.Queue()
    ready = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        for n in range(2):
            group.create_task(worker(queue), name=f"worker-{n}")
        group.create_task(gather_both(ready), name="fetcher")
        group.create_task(flush_guarded(ready), name="flusher")
        print("ready", flush=True)
        sys.stdout.close()


asyncio.run(main())
