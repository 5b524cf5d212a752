"""Await cycles (deadlocks).

Real awaits: "cycle-a" awaits "cycle-b" which awaits "cycle-a".  "upstream"
awaits "cycle-a" (not on the cycle, nothing it awaits through recurses: its
call graph is finite); "downstream" is awaited by "cycle-b" through a
hand-written edge (format_call_graph would recurse forever on it).
Hand-written (future_add_to_awaited_by, 3.14+): "ring-1" -> "ring-2" ->
"ring-3" -> "ring-1", each ring task waiting on an Event.  Declared cycles
(awaiter first): [cycle-a, cycle-b], [ring-1, ring-2, ring-3].
"""
import asyncio

import _oracle

VERSIONS = ("3.14", "3.15")
tasks = {}


async def await_named(name):
    await asyncio.sleep(0)
    await tasks[name]


async def leaf(event):
    await event.wait()


async def main():
    event = asyncio.Event()
    a = tasks["a"] = asyncio.create_task(await_named("b"), name="cycle-a")
    b = tasks["b"] = asyncio.create_task(await_named("a"), name="cycle-b")
    asyncio.create_task(await_named("a"), name="upstream")
    down = asyncio.create_task(leaf(event), name="downstream")
    _oracle.add_awaited_by(down, b)
    ring = [asyncio.create_task(leaf(event), name="ring-%d" % n)
            for n in (1, 2, 3)]
    for i, t in enumerate(ring):
        # ring[i] awaits ring[i + 1]: ring[i] is in ring[i + 1]'s awaited_by
        _oracle.add_awaited_by(ring[(i + 1) % 3], t)
    _oracle.declare_cycle([a, b])
    _oracle.declare_cycle(ring)
    _oracle.snapshot_when_parked()
    await event.wait()


if __name__ == "__main__":
    _oracle.main(main)
