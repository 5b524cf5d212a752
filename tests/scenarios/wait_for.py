"""asyncio.wait_for().

"wait-for-coro": wait_for(event.wait(), 3600);
"wait-for-task": wait_for(task, None) on a named task "waited";
"wait-for-nested": wait_for(wait_for(event.wait(), 7200), 3600);
"wait-for-future": wait_for(plain future, 3600).
"""
import asyncio

import _oracle


async def leaf(event):
    await event.wait()


async def for_coro(event):
    await asyncio.wait_for(event.wait(), 3600)


async def for_task(event):
    waited = asyncio.create_task(leaf(event), name="waited")
    await asyncio.wait_for(waited, None)


async def for_nested(event):
    await asyncio.wait_for(asyncio.wait_for(event.wait(), 7200), 3600)


async def for_future(future):
    await asyncio.wait_for(future, 3600)


async def main():
    event = asyncio.Event()
    future = asyncio.get_running_loop().create_future()
    asyncio.create_task(for_coro(event), name="wait-for-coro")
    asyncio.create_task(for_task(event), name="wait-for-task")
    asyncio.create_task(for_nested(event), name="wait-for-nested")
    asyncio.create_task(for_future(future), name="wait-for-future")
    _oracle.snapshot_when_parked()
    await asyncio.wait_for(event.wait(), None)


if __name__ == "__main__":
    _oracle.main(main)
