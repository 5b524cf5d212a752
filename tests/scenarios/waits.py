"""asyncio.wait(), as_completed(), wait_for(..., 0), staggered_race(), and
gather() inside shield() and wait_for(): the ways 3.14 records who awaits
whom besides a plain await, TaskGroup, gather() and shield() alone.

"hub-1" (a task) is awaited by three tasks at once, each in another way:
"by-await" awaits it, "by-wait" is in asyncio.wait({hub-1}), "by-gather" in
gather(hub-1, leaf); "hub-2" too: "by-shield" is in shield(hub-2),
"by-as-completed" iterates as_completed([hub-2, leaf]), "by-wait-for" is in
wait_for(hub-2, 3600).  (Three each: with five to seven awaiters the order
format_call_graph prints is not the order of the set in memory, see
README.md, "Findings".)
"wait-first" waits FIRST_COMPLETED on the task "first" and a plain future;
"wait-for-zero" is in wait_for(stubborn, 0), where the task "stubborn"
ignores the cancellation, so the caller stays in _cancel_and_wait();
"staggered" runs staggered_race() of a coroutine that fails at once and one
that parks (unnamed tasks, awaited by "staggered");
"gather-shield" awaits shield(gather(leaf, leaf)); "gather-wait-for" awaits
wait_for(gather(leaf, leaf), 3600); "gather-partial" awaits
gather(fail(), leaf, return_exceptions=True) (only the pending child is
awaited).
"""
import asyncio
from asyncio import staggered

import _oracle


async def leaf(event):
    await event.wait()


async def fail():
    raise RuntimeError("fails at once")


async def by_await(hub):
    await hub


async def by_wait(hub):
    await asyncio.wait({hub})


async def by_gather(hub, event):
    await asyncio.gather(hub, leaf(event))


async def by_shield(hub):
    await asyncio.shield(hub)


async def by_as_completed(hub, event):
    for next_done in asyncio.as_completed([hub, leaf(event)]):
        await next_done


async def by_wait_for(hub):
    await asyncio.wait_for(hub, 3600)


async def wait_first(event, future):
    first = asyncio.create_task(leaf(event), name="first")
    await asyncio.wait({first, future}, return_when=asyncio.FIRST_COMPLETED)


async def stubborn(event):
    while True:
        try:
            await event.wait()
        except asyncio.CancelledError:
            pass


async def wait_for_zero(event):
    task = asyncio.create_task(stubborn(event), name="stubborn")
    await asyncio.sleep(0)
    await asyncio.wait_for(task, 0)


async def in_staggered(event):
    await staggered.staggered_race([fail, lambda: leaf(event)], None)


async def gather_shield(event):
    await asyncio.shield(asyncio.gather(leaf(event), leaf(event)))


async def gather_wait_for(event):
    await asyncio.wait_for(asyncio.gather(leaf(event), leaf(event)), 3600)


async def gather_partial(event):
    await asyncio.gather(fail(), leaf(event), return_exceptions=True)


async def main():
    event = asyncio.Event()
    future = asyncio.get_running_loop().create_future()
    hub1 = asyncio.create_task(leaf(event), name="hub-1")
    hub2 = asyncio.create_task(leaf(event), name="hub-2")
    asyncio.create_task(by_await(hub1), name="by-await")
    asyncio.create_task(by_wait(hub1), name="by-wait")
    asyncio.create_task(by_gather(hub1, event), name="by-gather")
    asyncio.create_task(by_shield(hub2), name="by-shield")
    asyncio.create_task(by_as_completed(hub2, event), name="by-as-completed")
    asyncio.create_task(by_wait_for(hub2), name="by-wait-for")
    asyncio.create_task(wait_first(event, future), name="wait-first")
    asyncio.create_task(wait_for_zero(event), name="wait-for-zero")
    asyncio.create_task(in_staggered(event), name="staggered")
    asyncio.create_task(gather_shield(event), name="gather-shield")
    asyncio.create_task(gather_wait_for(event), name="gather-wait-for")
    asyncio.create_task(gather_partial(event), name="gather-partial")
    _oracle.keep(future)
    _oracle.snapshot_when_parked()
    await event.wait()


if __name__ == "__main__":
    _oracle.main(main)
