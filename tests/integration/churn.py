"""A service whose task graph never stands still: tasks are created, awaited
through gather and TaskGroup, and finish all the time. Prints "ready" once
the churn runs, then churns forever. Used to read a running process
(--no-stop) while its lists change under the reader."""

import asyncio
import random


async def leaf(n):
    await asyncio.sleep(random.random() / 500)
    return n


async def middle(n):
    return sum(await asyncio.gather(*(leaf(i) for i in range(n % 4 + 1))))


async def group(n):
    async with asyncio.TaskGroup() as tg:
        for i in range(n % 3 + 1):
            tg.create_task(middle(i), name="mid-%d-%d" % (n, i))


async def worker(w):
    n = 0
    while True:
        n += 1
        await group(n + w)


async def main():
    workers = [asyncio.create_task(worker(w), name="worker-%d" % w)
               for w in range(50)]
    await asyncio.sleep(0.2)
    print("ready", flush=True)
    await asyncio.gather(*workers)


asyncio.run(main())
