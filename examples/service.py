"""A small asyncio service that hangs: the demo target of py-async-graph.

A TaskGroup runs workers that wait on a queue nobody fills, a gather of
two fetches waits on an event nobody sets, a shielded flush waits
forever, and an archiver's worker thread (asyncio.to_thread) waits for a
lock the main thread never releases. Every stack dump shows an idle event
loop; the graph shows why.
"""
import asyncio
import sys
import threading


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
        group.create_task(archive_later(), name="archiver")
        await asyncio.sleep(0.2)  # every task has started
        print("ready", flush=True)
        sys.stdout.close()


ARCHIVE_LOCK = threading.Lock()


def write_archive(lock):
    with lock:
        pass


def archive(lock):
    write_archive(lock)


async def archive_later():
    await asyncio.to_thread(archive, ARCHIVE_LOCK)


ARCHIVE_LOCK.acquire()  # and never released
asyncio.run(main())
