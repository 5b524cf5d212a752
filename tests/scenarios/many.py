"""10,000 worker tasks (10,011 tasks in all).

Task-1 (main) runs a TaskGroup of ten "group-G" tasks; each runs a
TaskGroup of 1,000 workers, every worker three coroutine frames deep
(worker -> stage1 -> stage2 -> Event.wait).  Even workers are named
"worker-G-N", odd ones are unnamed (Task-N).
"""
import asyncio

import _oracle

GROUPS = 10
WORKERS = 1000


async def stage2(event):
    await event.wait()


async def stage1(event):
    await stage2(event)


async def worker(event):
    await stage1(event)


async def group(g, event):
    async with asyncio.TaskGroup() as tg:
        for n in range(WORKERS):
            if n % 2 == 0:
                tg.create_task(worker(event), name="worker-%d-%d" % (g, n))
            else:
                tg.create_task(worker(event))


async def main():
    event = asyncio.Event()
    _oracle.snapshot_when_parked()
    async with asyncio.TaskGroup() as tg:
        for g in range(GROUPS):
            tg.create_task(group(g, event), name="group-%d" % g)


if __name__ == "__main__":
    _oracle.main(main)
