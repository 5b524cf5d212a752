"""Two interpreters, each with its own event loop and tasks.

The main interpreter (id 0) runs the usual main loop on the main thread:
Task-1 with a TaskGroup of "main-a" and "main-b".  The thread "sub-interp"
(a thread of the main interpreter) creates a second interpreter
(concurrent.interpreters, PEP 734) and calls its exec(), which imports this
file and runs asyncio.run(sub_main()) there: that interpreter's own
(unnamed) Task-1, so both interpreters have a Task-1, with a TaskGroup of
"sub-a", "sub-b" and one unnamed task; "sub-parent" awaits "sub-child".

The main interpreter's oracle sees only its own tasks (a fork from the
other interpreter is not possible): the second interpreter writes its part
of the oracle itself, in place, from a loop callback once its loop has
settled (so its unnamed tasks' names are materialised strs, the main
interpreter's stay ints); the main interpreter says ready only after that
part is written, and oracle.json holds the tasks of both, each with its
"interpreter" id and the native id of the thread that runs its loop
("sub-interp" for the second interpreter's).
"""
import asyncio

import _oracle


async def leaf(event):
    await event.wait()


async def parent(event):
    child = asyncio.create_task(leaf(event), name="sub-child")
    await child


async def sub_main():
    # runs in the second interpreter
    event = asyncio.Event()
    asyncio.create_task(parent(event), name="sub-parent")
    _oracle.snapshot_when_parked()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(event), name="sub-a")
        tg.create_task(leaf(event), name="sub-b")
        tg.create_task(leaf(event))


async def main():
    _oracle.run_interpreter_thread(sub_main, name="sub-interp")
    event = asyncio.Event()
    _oracle.snapshot_when_parked()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(event), name="main-a")
        tg.create_task(leaf(event), name="main-b")


if __name__ == "__main__":
    _oracle.main(main)
