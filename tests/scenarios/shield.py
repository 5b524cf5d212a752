"""shield().

"shield-task" awaits shield(inner) where inner is a named task;
"shield-coro" awaits shield(coroutine) (shield wraps it in a new, unnamed
task); "shield-a" and "shield-b" both await shield() of the same task
"shared", which therefore has two awaiters (a set).
"""
import asyncio

import _oracle


async def leaf(event):
    await event.wait()


async def shield_task(event):
    inner = asyncio.create_task(leaf(event), name="inner")
    await asyncio.shield(inner)


async def shield_coro(event):
    await asyncio.shield(leaf(event))


async def shield_shared(task):
    await asyncio.shield(task)


async def main():
    event = asyncio.Event()
    asyncio.create_task(shield_task(event), name="shield-task")
    asyncio.create_task(shield_coro(event), name="shield-coro")
    shared = asyncio.create_task(leaf(event), name="shared")
    asyncio.create_task(shield_shared(shared), name="shield-a")
    asyncio.create_task(shield_shared(shared), name="shield-b")
    _oracle.snapshot_when_parked()
    await _oracle.forever()


if __name__ == "__main__":
    _oracle.main(main)
