"""Benchmark target: N tasks in a realistic shape, then idle forever.

    target.py N [THREADS]

TaskGroups of workers (each worker 3 coroutine frames deep, waiting on an
event), and every tenth group gathers two fetches instead; THREADS plain
threads (default 0), each blocked five frames deep on a threading.Event.
Prints "ready" once every task is parked and every thread has started.
Runs on Python 3.11 and later (asyncio.TaskGroup).
"""
import asyncio
import sys
import threading

N = int(sys.argv[1])
THREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 0
GROUP = 100
STOP = threading.Event()


def blocked(depth, started):
    if depth:
        return blocked(depth - 1, started)
    started.release()
    STOP.wait()


def start_threads():
    started = threading.Semaphore(0)
    for i in range(THREADS):
        threading.Thread(target=blocked, args=(4, started), name="blocked-%d" % i,
                         daemon=True).start()
    for _ in range(THREADS):
        started.acquire()


async def wait(ev):
    await ev.wait()


async def handle(ev):
    await wait(ev)


async def worker(ev):
    await handle(ev)


async def fetch_both(ev):
    await asyncio.gather(wait(ev), wait(ev))


async def group(ev, n, k):
    async with asyncio.TaskGroup() as g:
        for i in range(n):
            if k % 10 == 0 and i % 3 == 0:
                g.create_task(fetch_both(ev))
            else:
                g.create_task(worker(ev))


async def main():
    ev = asyncio.Event()
    async with asyncio.TaskGroup() as g:
        made = 1
        k = 0
        while made < N:
            n = min(GROUP - 1, N - made - 1)
            if n <= 0:
                break
            g.create_task(group(ev, n, k), name=f"group-{k}")
            made += n + 1
            k += 1
        # let every task start and park
        for _ in range(5):
            await asyncio.sleep(0.05)
        print("ready", flush=True)


start_threads()
asyncio.run(main())
