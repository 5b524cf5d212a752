"""Tasks left behind by a thread that exited.

Thread "short-lived" creates its own loop, starts "orphan-leaf", "orphan-2"
and "orphan-parent" (which awaits "orphan-leaf"), runs the loop until they
are parked, then stops WITHOUT cancelling them and exits (the loop is not
closed).  The loop and the tasks are kept alive, so the tasks stay pending;
the interpreter moves them to its own task list when the thread state goes
away (native_thread_id 0 in the oracle; the thread is listed with
"exited": true).  The main thread has its own tasks.
"""
import asyncio

import _oracle


async def leaf(future):
    await future


async def parent(task):
    await task


def short_lived():
    loop = _oracle.register_loop(asyncio.new_event_loop())
    future = loop.create_future()
    a = loop.create_task(leaf(future), name="orphan-leaf")
    b = loop.create_task(leaf(future), name="orphan-2")
    c = loop.create_task(parent(a), name="orphan-parent")
    loop.run_until_complete(asyncio.sleep(0.05))
    _oracle.keep(loop, future, a, b, c)
    # no cancellation, no loop.close(): the tasks stay pending


async def main():
    thread = _oracle.start_thread(short_lived, name="short-lived")
    while thread.is_alive():
        await asyncio.sleep(0.01)
    future = asyncio.get_running_loop().create_future()
    asyncio.create_task(leaf(future), name="main-leaf")
    _oracle.snapshot_when_parked()
    await future


if __name__ == "__main__":
    _oracle.main(main)
