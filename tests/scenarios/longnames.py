"""Very long task names.

"long-ascii": 1000 ASCII characters; "long-255"/"long-256": at the 255
boundary; "long-ucs4": 300 characters, non-ASCII with 4-byte code points;
"long-ucs2": 300 Greek/CJK characters; "long-latin1": 300 Latin-1
characters.  A TaskGroup parent with a long name awaits a child with a long
name.
"""
import asyncio

import _oracle

ASCII_1000 = "".join("abcdefghij"[i % 10] for i in range(999)) + "Z"
UCS4_300 = ("tâche-é-😀-" * 30)[:300]
UCS2_300 = ("αβγδ任务名字" * 50)[:300]
LATIN1_300 = ("café-naïve-" * 30)[:300]


async def leaf(future):
    await future


async def parent(future):
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(future), name="child-" + UCS2_300)


async def main():
    future = asyncio.get_running_loop().create_future()
    for name in (ASCII_1000, "x" * 255, "y" * 256, UCS4_300, UCS2_300,
                 LATIN1_300):
        asyncio.create_task(leaf(future), name=name)
    asyncio.create_task(parent(future), name="parent-" + UCS4_300)
    _oracle.snapshot_when_parked()
    await future


if __name__ == "__main__":
    _oracle.main(main)
