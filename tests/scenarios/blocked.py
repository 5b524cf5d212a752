"""A loop blocked by a synchronous call, in the main thread.

The main task (Task-1) runs a TaskGroup: "leaf-a", "leaf-b" and one
unnamed task wait on an Event; "blocker" first waits until every other task
has parked, then runs

    run_blocker()            coroutine:        async for over produce()
      produce()              async generator:  for over steps()
        steps()              generator:        calls helper()
          helper()           plain function:   calls block()
            block()          plain function:   time.sleep(10**6)

block() writes the oracle on the very line of the blocking call, so the
line recorded for block() is the line where the thread is blocked.  The
oracle marks "blocker" "running": true and maps the main thread's native id
to its format_call_graph() text under "current".
"""
import asyncio
import time

import _oracle


def block():
    _ = (_oracle.finish_current(), time.sleep(10**6))


def helper():
    block()


def steps():
    helper()
    yield 1


async def produce():
    for x in steps():
        yield x


async def run_blocker(go):
    await go.wait()
    async for _ in produce():
        pass


async def leaf(event):
    await event.wait()


async def main():
    event = asyncio.Event()
    go = asyncio.Event()
    _oracle.when_settled(go.set)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(leaf(event), name="leaf-a")
        tg.create_task(leaf(event), name="leaf-b")
        tg.create_task(leaf(event))
        tg.create_task(run_blocker(go), name="blocker")


if __name__ == "__main__":
    _oracle.main(main)
