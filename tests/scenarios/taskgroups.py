"""TaskGroup nesting, three levels deep.

Task-1 (main) -> TaskGroup: l2-a, l2-b, l1-leaf
l2-a / l2-b   -> TaskGroup: l2-leaf, l3
l3            -> TaskGroup: l3-leaf-1, l3-leaf-2
Every leaf waits on one Event that is never set.
"""
import asyncio

import _oracle


async def leaf(event):
    await event.wait()


async def level3(event):
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(event), name="l3-leaf-1")
        tg.create_task(leaf(event), name="l3-leaf-2")


async def level2(event):
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(event), name="l2-leaf")
        tg.create_task(level3(event), name="l3")


async def main():
    event = asyncio.Event()
    _oracle.snapshot_when_parked()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(level2(event), name="l2-a")
        tg.create_task(level2(event), name="l2-b")
        tg.create_task(leaf(event), name="l1-leaf")


if __name__ == "__main__":
    _oracle.main(main)
