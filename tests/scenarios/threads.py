"""Threads with their own event loops.

Three threads "loop-1".."loop-3" each run asyncio.run(): a main task with a
TaskGroup of two workers and one free-standing task.  The main thread runs
its own loop with a TaskGroup of two workers.  Task ids are per thread: each
task's native_thread_id in the oracle is the thread that runs its loop.
"""
import asyncio

import _oracle


async def worker(event):
    await event.wait()


async def thread_main(n):
    event = asyncio.Event()
    asyncio.create_task(worker(event), name="t%d-free" % n)
    _oracle.thread_parked()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(worker(event), name="t%d-worker-a" % n)
        tg.create_task(worker(event), name="t%d-worker-b" % n)


async def main():
    for n in (1, 2, 3):
        _oracle.run_loop_thread(thread_main, n, name="loop-%d" % n)
    event = asyncio.Event()
    _oracle.snapshot_when_parked()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(worker(event), name="main-worker-a")
        tg.create_task(worker(event), name="main-worker-b")


if __name__ == "__main__":
    _oracle.main(main)
