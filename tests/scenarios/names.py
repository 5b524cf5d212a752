"""Task names with non-ASCII characters.

Latin-1 ('café'), 2-byte ('Γειά σου κόσμε', '任务-中文-名字'), 4-byte
('tâche-é-😀'), mixed with quotes and a backslash, spaces, and the empty
name.  Each task waits on its own plain future; "parent" awaits two of them
(through a TaskGroup) so names also appear in awaited-by entries.
"""
import asyncio

import _oracle

NAMES = [
    "café",
    "Γειά σου κόσμε",
    "任务-中文-名字",
    "tâche-é-😀",
    "quote's \"double\" back\\slash",
    "with  two spaces",
    "",
]


async def leaf(future):
    await future


async def parent(future):
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(future), name="enfant-ü")
        tg.create_task(leaf(future), name="子供-🙂")


async def main():
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    for name in NAMES:
        asyncio.create_task(leaf(future), name=name)
    asyncio.create_task(parent(future), name="parent-π")
    _oracle.snapshot_when_parked()
    await future


if __name__ == "__main__":
    _oracle.main(main)
