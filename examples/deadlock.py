"""Two transfers that take two asyncio locks in opposite orders: a
deadlock. Each holds one lock and waits for the other; nothing else is
scheduled, so the event loop has nothing that could ever wake them.
`py-async-graph --waiting PID` shows which lock each task waits on (and
that it is locked), `py-async-graph --format=loops PID` that nothing can
wake the loop's tasks.
"""
import asyncio
import os


async def transfer(mine, theirs):
    async with mine:
        await asyncio.sleep(0)      # let the other transfer take its lock
        async with theirs:          # held by the other one: forever
            pass


async def main():
    a, b = asyncio.Lock(), asyncio.Lock()
    async with asyncio.TaskGroup() as group:
        group.create_task(transfer(a, b), name="left")
        group.create_task(transfer(b, a), name="right")
        await asyncio.sleep(0.1)
        print("ready", os.getpid(), flush=True)


asyncio.run(main())
