"""asyncio.timeout() and timeout_at().

"timeout" waits on an Event inside `async with asyncio.timeout(3600)`;
"timeout-none" inside timeout(None); "timeout-at" inside timeout_at();
"timeout-nested" inside two nested timeouts, in a helper coroutine;
"timeout-child" awaits a child task inside a timeout.
"""
import asyncio

import _oracle


async def in_timeout(event):
    async with asyncio.timeout(3600):
        await event.wait()


async def in_timeout_none(event):
    async with asyncio.timeout(None):
        await event.wait()


async def in_timeout_at(event):
    async with asyncio.timeout_at(asyncio.get_running_loop().time() + 3600):
        await event.wait()


async def helper(event):
    async with asyncio.timeout(7200):
        await event.wait()


async def nested(event):
    async with asyncio.timeout(3600):
        await helper(event)


async def child_in_timeout(event):
    async with asyncio.timeout(3600):
        await asyncio.create_task(in_timeout(event), name="timeout-grandchild")


async def main():
    event = asyncio.Event()
    asyncio.create_task(in_timeout(event), name="timeout")
    asyncio.create_task(in_timeout_none(event), name="timeout-none")
    asyncio.create_task(in_timeout_at(event), name="timeout-at")
    asyncio.create_task(nested(event), name="timeout-nested")
    asyncio.create_task(child_in_timeout(event), name="timeout-child")
    _oracle.snapshot_when_parked()
    await event.wait()


if __name__ == "__main__":
    _oracle.main(main)
