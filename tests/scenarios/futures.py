"""Plain Futures linked with asyncio.future_add_to_awaited_by() (3.14+).

Chain 1: "t-leaf-1" is awaited by the plain Future F1 (hand-written edge);
"t-waits-f1" awaits F1 for real.  Chain 2: "t-leaf-2" is awaited by F2, F2
by F3 (a future awaited by a future, hand-written), and "t-waits-f3" awaits
F3.  Chain 3: F4 awaits "t-leaf-3" and is awaited by two tasks ("t-f4-a",
"t-f4-b"): a future with several awaiters.  Only futures reached from a task
through awaited-by edges are in the oracle (as a memory reader finds them).
"""
import asyncio

import _oracle

VERSIONS = ("3.14", "3.15")


async def leaf(event):
    await event.wait()


async def waits(future):
    await future


async def main():
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    f1, f2, f3, f4 = (loop.create_future() for _ in range(4))

    t1 = asyncio.create_task(leaf(event), name="t-leaf-1")
    _oracle.add_awaited_by(t1, f1)
    asyncio.create_task(waits(f1), name="t-waits-f1")

    t2 = asyncio.create_task(leaf(event), name="t-leaf-2")
    _oracle.add_awaited_by(t2, f2)
    _oracle.add_awaited_by(f2, f3)
    asyncio.create_task(waits(f3), name="t-waits-f3")

    t3 = asyncio.create_task(leaf(event), name="t-leaf-3")
    _oracle.add_awaited_by(t3, f4)
    asyncio.create_task(waits(f4), name="t-f4-a")
    asyncio.create_task(waits(f4), name="t-f4-b")

    _oracle.keep(f1, f2, f3, f4)
    _oracle.snapshot_when_parked()
    await event.wait()


if __name__ == "__main__":
    _oracle.main(main)
