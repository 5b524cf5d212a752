"""gather(), flat and nested.

Task-1 (main) awaits gather(leaf, leaf, gather(leaf, leaf)): the four
children become tasks awaited by main (gather records the calling task as
the awaiter, also for the inner gather's children).
"gatherer" awaits gather(leaf, middle()) where middle() is a coroutine
that awaits gather(leaf, leaf) itself: two levels of tasks.
"of-tasks" awaits gather() over two already created, named tasks.
"""
import asyncio

import _oracle


async def leaf(future):
    await future


async def middle(future):
    await asyncio.gather(leaf(future), leaf(future))


async def gatherer(future):
    await asyncio.gather(leaf(future), middle(future))


async def of_tasks(future):
    a = asyncio.create_task(leaf(future), name="gathered-a")
    b = asyncio.create_task(leaf(future), name="gathered-b")
    await asyncio.gather(a, b)


async def main():
    future = asyncio.get_running_loop().create_future()
    asyncio.create_task(gatherer(future), name="gatherer")
    asyncio.create_task(of_tasks(future), name="of-tasks")
    _oracle.snapshot_when_parked()
    await asyncio.gather(leaf(future), leaf(future),
                         asyncio.gather(leaf(future), leaf(future)))


if __name__ == "__main__":
    _oracle.main(main)
