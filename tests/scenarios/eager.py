"""Eager tasks (asyncio.eager_task_factory on the main loop).

The main task itself is eager.  "eager-leaf-N" start eagerly and park on
their first await; "eager-done" completes during its eager start (so it is
never pending and must not be listed); "eager-group" runs a TaskGroup whose
children are eager too; "lazy" is created with eager_start=False and
"sleeper" starts eagerly, then parks in a nested coroutine.
"""
import asyncio

import _oracle


async def leaf(event):
    await event.wait()


async def done_at_once():
    return 42


async def group(event):
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(event), name="eager-group-child-1")
        tg.create_task(leaf(event), name="eager-group-child-2")


async def inner(event):
    await leaf(event)


async def sleeper(event):
    await inner(event)


async def main():
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for n in range(3):
        loop.create_task(leaf(event), name="eager-leaf-%d" % n)
    done = loop.create_task(done_at_once(), name="eager-done")
    assert done.done()
    loop.create_task(group(event), name="eager-group")
    loop.create_task(leaf(event), name="lazy", eager_start=False)
    loop.create_task(sleeper(event), name="sleeper")
    _oracle.snapshot_when_parked()
    await event.wait()


if __name__ == "__main__":
    _oracle.main(main, task_factory=asyncio.eager_task_factory)
