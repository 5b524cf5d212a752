"""The order of a task's awaiters.

3.14 keeps a future's awaiters in a `set`: the first awaiter alone; at the
second, a new set into which the second is added first, then the first;
later ones in turn.  format_call_graph lists them in the set's slot order,
which depends on the order they were added only where their hashes collide.
So "contended" is awaited by "awaiter-1", "awaiter-2" and "awaiter-3", in
that order, three tasks picked among 24 candidates because their hashes
fall in the same slot of an 8-slot table: awaiter-1 awaits it, awaiter-2
shields it, awaiter-3 is in asyncio.wait({contended}).  The other
candidates are cancelled.
"""
import asyncio

import _oracle

CANDIDATES = 24


async def leaf(event):
    await event.wait()


async def candidate(go, target, how):
    await go.wait()
    if how[0] == "await":
        await target
    elif how[0] == "shield":
        await asyncio.shield(target)
    else:
        await asyncio.wait({target})


async def main():
    event = asyncio.Event()
    contended = asyncio.create_task(leaf(event), name="contended")
    cands = []
    for n in range(CANDIDATES):
        go, how = asyncio.Event(), [None]
        task = asyncio.create_task(candidate(go, contended, how), name="candidate-%d" % n)
        cands.append((task, go, how))
    await asyncio.sleep(0)
    slots = {}
    for c in cands:
        slots.setdefault(hash(c[0]) & 7, []).append(c)
    chosen = max(slots.values(), key=len)[:3]
    assert len(chosen) == 3, "no three candidates share a slot"
    for n, ((task, go, how), way) in enumerate(zip(chosen, ("await", "shield", "wait"))):
        task.set_name("awaiter-%d" % (n + 1))
        how[0] = way
        go.set()
        for _ in range(3):
            await asyncio.sleep(0)
    for c in cands:
        if c not in chosen:
            c[0].cancel()
    _oracle.snapshot_when_parked()
    await event.wait()


if __name__ == "__main__":
    _oracle.main(main)
