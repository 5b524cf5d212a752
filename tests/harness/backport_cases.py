"""Where the rebuilt call graph differs from 3.14's, shown on 3.14 itself.

Run by check_backport.py (--cases) as `python3.14 backport_cases.py`, with
_graph_backport.py next to it.  Each case builds a small situation in its
own event loop, twice: with the twist that the backport cannot see, and as
a control without it.  At the snapshot point (inside the main task, nothing
else running) it compares, for the subject futures, asyncio's own
`_asyncio_awaited_by` and format_call_graph() with the backport's.  One
JSON line per run: name, doc, expect ("differs" for the twist, "same" for
the control), differs, and both graphs' awaiters by name.

These are the cases listed in tests/scenarios/README.md, "Where the rebuilt
graph differs from 3.14"; and a few the backport gets right that the
scenarios leave out (exact=True: one run, expected the same).
"""

import asyncio
import itertools
import json
import sys

import _graph_backport as B

CASES = []


def case(name, doc, exact=False):
    def register(fn):
        CASES.append((name, doc, fn, exact))
        return fn
    return register


async def leaf(event):
    await event.wait()


async def settle(n=10):
    for _ in range(n):
        await asyncio.sleep(0)


def label(fut):
    return fut.get_name() if isinstance(fut, asyncio.Task) else "future"


# ---------------------------------------------------------------------------

@case("gather-elsewhere", "gather() called by one task, awaited by another: "
      "3.14 names the caller, the backport the awaiting task")
async def gather_elsewhere(twist, ev):
    x = asyncio.create_task(leaf(ev), name="x")
    box = {}

    async def caller():
        box["g"] = asyncio.gather(x)
        if twist:
            await ev.wait()
        else:
            await box["g"]

    async def awaiter():
        while "g" not in box:
            await asyncio.sleep(0)
        await box["g"]

    asyncio.create_task(caller(), name="caller")
    if twist:
        asyncio.create_task(awaiter(), name="awaiter")
    await settle()
    return [x]


@case("gather-two-awaiters", "one gather() future awaited by two tasks: 3.14 "
      "names the caller, the backport both")
async def gather_two_awaiters(twist, ev):
    x = asyncio.create_task(leaf(ev), name="x")
    box = {}

    async def caller():
        box["g"] = asyncio.gather(x)
        await box["g"]

    async def other():
        while "g" not in box:
            await asyncio.sleep(0)
        await box["g"]

    asyncio.create_task(caller(), name="caller")
    if twist:
        asyncio.create_task(other(), name="other")
    await settle()
    return [x]


@case("gather-outside-task", "gather() called outside any task (a loop "
      "callback), awaited by a task: 3.14 records no awaiter, the backport "
      "the awaiting task")
async def gather_outside_task(twist, ev):
    x = asyncio.create_task(leaf(ev), name="x")
    box = {}
    loop = asyncio.get_running_loop()
    if twist:
        loop.call_soon(lambda: box.setdefault("g", asyncio.gather(x)))

    async def awaiter():
        if not twist:
            box["g"] = asyncio.gather(x)
        while "g" not in box:
            await asyncio.sleep(0)
        await box["g"]

    asyncio.create_task(awaiter(), name="awaiter")
    await settle()
    return [x]


@case("gather-not-awaited", "gather() called by a task that has not awaited "
      "it (it waits on something else): 3.14 names the caller, the backport "
      "no one")
async def gather_not_awaited(twist, ev):
    x = asyncio.create_task(leaf(ev), name="x")

    async def caller():
        g = asyncio.gather(x)
        if twist:
            await ev.wait()
        await g

    asyncio.create_task(caller(), name="caller")
    await settle()
    return [x]


@case("shield-elsewhere", "shield() called by one task, its future awaited "
      "by another: 3.14 names the caller, the backport the awaiting task")
async def shield_elsewhere(twist, ev):
    x = asyncio.create_task(leaf(ev), name="x")
    box = {}

    async def caller():
        box["o"] = asyncio.shield(x)
        if twist:
            await ev.wait()
        else:
            await box["o"]

    async def awaiter():
        while "o" not in box:
            await asyncio.sleep(0)
        await box["o"]

    asyncio.create_task(caller(), name="caller")
    if twist:
        asyncio.create_task(awaiter(), name="awaiter")
    await settle()
    return [x]


@case("as-completed-not-waiting", "as_completed() made by a task that is not "
      "waiting on it (here: before it iterates): 3.14 names that task, the "
      "backport no one")
async def as_completed_not_waiting(twist, ev):
    x = asyncio.create_task(leaf(ev), name="x")
    y = asyncio.create_task(leaf(ev), name="y")
    other = asyncio.Event()

    async def caller():
        it = asyncio.as_completed([x, y])
        if twist:
            await other.wait()
        for c in it:
            await c

    asyncio.create_task(caller(), name="caller")
    await settle()
    return [x, y]


@case("hand-written", "an edge made with future_add_to_awaited_by(): no "
      "object holds it; the backport has it only when told (declared=)")
async def hand_written(twist, ev):
    x = asyncio.create_task(leaf(ev), name="x")
    w = asyncio.create_task(leaf(ev), name="waiter")
    asyncio.future_add_to_awaited_by(x, w)
    await settle()
    return [x], ([] if twist else [(x, w)])


@case("callbacks-pending", "a future of asyncio.wait() that completed in this "
      "loop iteration (its done callbacks scheduled, not run): 3.14 still "
      "has the edge, the backport not")
async def callbacks_pending(twist, ev):
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    g = loop.create_future()

    async def waiter():
        await asyncio.wait({f, g})

    asyncio.create_task(waiter(), name="waiter")
    await settle()
    f.set_result(None)
    if not twist:
        await settle()
    return [f, g]


@case("await-pending", "a future awaited by a task, completed in this loop "
      "iteration (the task not yet woken): the task's _fut_waiter still "
      "names it, as 3.14 does", exact=True)
async def await_pending(twist, ev):
    f = asyncio.get_running_loop().create_future()

    async def waiter():
        await f

    asyncio.create_task(waiter(), name="waiter")
    await settle()
    f.set_result(None)
    return [f]


async def candidate(go, target, how):
    await go.wait()
    if how[0] == "shield":
        await asyncio.shield(target)
    else:
        await target


@case("set-removal", "awaiters added after another was removed: 3.14's set "
      "reuses the removed entry's slot, the backport builds the set afresh "
      "(the order differs for some addresses; picked so that it does)")
async def set_removal(twist, ev):
    contended = asyncio.create_task(leaf(ev), name="contended")
    cands = []
    for n in range(16):
        go, how = asyncio.Event(), [None]
        t = asyncio.create_task(candidate(go, contended, how), name="candidate-%d" % n)
        cands.append((t, go, how))
    await settle(2)
    # y awaits first (through shield()), x second, y leaves, z comes: pick
    # three whose orders differ (3.14's set: the second added first)
    for y, x, z in itertools.permutations(cands, 3):
        s = set()
        s.add(x[0])
        s.add(y[0])
        s.discard(y[0])
        s.add(z[0])
        if list(frozenset(s)) != list(B._as_recorded([x[0], z[0]])):
            break
    else:
        raise AssertionError("no three candidates whose orders differ")
    steps = [(y, "shield"), (x, "await")] if twist else [(x, "await")]
    for (t, go, how), way in steps:
        how[0] = way
        go.set()
        await settle(3)
    if twist:
        y[0].cancel()
        await settle(3)
    z[2][0] = "await"
    z[1].set()
    await settle(3)
    x[0].set_name("x")
    z[0].set_name("z")
    return [contended]


async def in_some_way(way, hub, ev):
    if way == "await":
        await hub
    elif way == "wait":
        await asyncio.wait({hub})
    elif way == "gather":
        await asyncio.gather(hub, leaf(ev))
    elif way == "shield":
        await asyncio.shield(hub)
    elif way == "as_completed":
        for c in asyncio.as_completed([hub, leaf(ev)]):
            await c
    else:
        await asyncio.wait_for(hub, 3600)


@case("six-awaiters", "a task awaited by six tasks in six ways (asyncio's "
      "frozenset of a 5-7 member set is ordered unlike the set)", exact=True)
async def six_awaiters(twist, ev):
    hub = asyncio.create_task(leaf(ev), name="hub")
    for way in ("await", "wait", "gather", "shield", "as_completed", "wait_for"):
        asyncio.create_task(in_some_way(way, hub, ev), name="by-" + way)
    await settle()
    return [hub]


# ---------------------------------------------------------------------------

def run(name, doc, fn, twist, exact=False):
    res = {}

    async def main():
        # the cases leave gathers with cancelled children behind: quiet
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: None)
        ev = asyncio.Event()
        got = await fn(twist, ev)
        subjects, declared = got if isinstance(got, tuple) else (got, ())
        index = B.AwaitedBy(asyncio.all_tasks(), declared=declared)
        real = [[label(a) for a in (s._asyncio_awaited_by or ())] for s in subjects]
        back = [[label(a) for a in (index(s) or ())] for s in subjects]
        real_ids = [[id(a) for a in (s._asyncio_awaited_by or ())] for s in subjects]
        back_ids = [[id(a) for a in (index(s) or ())] for s in subjects]
        texts_differ = any(asyncio.format_call_graph(s)
                           != B.format_call_graph(s, awaited_by=index)
                           for s in subjects)
        res.update(asyncio=real, backport=back,
                   differs=real_ids != back_ids or texts_differ)
        for t in asyncio.all_tasks():
            if t is not asyncio.current_task():
                t.cancel()
        await settle()

    asyncio.run(main())
    print(json.dumps({"name": name + ("" if twist else " (control)"), "doc": doc
                      if twist else "the same without the twist",
                      "expect": "differs" if twist and not exact else "same", **res}),
          flush=True)


if __name__ == "__main__":
    for name, doc, fn, exact in CASES:
        for twist in ((True,) if exact else (True, False)):
            run(name, doc, fn, twist, exact)
    sys.exit(0)
