"""Unnamed tasks: every name is the lazily materialised 'Task-N'.

The main task (Task-1) creates three unnamed leaves, an unnamed task that
awaits another unnamed task, and an unnamed TaskGroup with unnamed
children.  Nothing in the process calls get_name() before the oracle's
fork, so the tasks hold their name as the int N.
"""
import asyncio

import _oracle


async def leaf(event):
    await event.wait()


async def awaits(task):
    await task


async def group(event):
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(event))
        tg.create_task(leaf(event))


async def main():
    event = asyncio.Event()
    for _ in range(3):
        asyncio.create_task(leaf(event))
    asyncio.create_task(awaits(asyncio.create_task(leaf(event))))
    asyncio.create_task(group(event))
    _oracle.snapshot_when_parked()
    await event.wait()


if __name__ == "__main__":
    _oracle.main(main)
