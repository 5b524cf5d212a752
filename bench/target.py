"""Benchmark target: N tasks in a realistic shape, then idle forever.

TaskGroups of workers (each worker 3 coroutine frames deep, waiting on an
event), and every tenth group gathers two fetches instead. Prints "ready"
once every task is parked.
"""
import asyncio
import sys

N = int(sys.argv[1])
GROUP = 100


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


asyncio.run(main())
