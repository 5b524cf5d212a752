"""Eager tasks (asyncio.eager_task_factory on the main loop; 3.12+).

The main task is eager.  "eager-leaf-N" start eagerly and park on their
first await; "eager-done" completes during its eager start (never pending,
not listed); "eager-group" runs a TaskGroup of eager children; "lazy" is not
eager (_oracle.lazy_task); "sleeper" starts eagerly, parks two levels deep.
"""
import asyncio

import _oracle

VERSIONS = ("3.12", "3.13", "3.14", "3.15")

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
    _oracle.lazy_task(loop, leaf(event), name="lazy")
    loop.create_task(sleeper(event), name="sleeper")
    _oracle.snapshot_when_parked()
    await event.wait()


if __name__ == "__main__":
    _oracle.main(main, task_factory=asyncio.eager_task_factory)
