"""Waiting, but not stuck: timers pending (the deadlock scenario's
counterpart).

`napper-1`, `napper-2` in asyncio.sleep(3600) and asyncio.sleep(7200);
`waiter` waits on an Event; a call_later(5400) callback is scheduled; a
call_later(9000) callback was cancelled (it stays in the loop's heap,
marked cancelled: not a timer).  The loop has three live timers, the
next one the first sleep's: it can wake (can_wake true).
"""
import asyncio

import _oracle

VERSIONS = ("3.11", "3.12", "3.13", "3.14", "3.15")
NAPS = (3600, 7200)


def nothing():
    pass


async def napper(rec, n, delay):
    rec[n] = asyncio.get_running_loop().time()
    await asyncio.sleep(delay)


async def main():
    loop = asyncio.get_running_loop()
    rec = {}
    for n, delay in enumerate(NAPS, 1):
        t = loop.create_task(napper(rec, n, delay), name="napper-%d" % n)

        def state(h, n=n, delay=delay):
            assert rec[n] + delay <= h.when() <= loop.time() + delay
            return {"deadline": h.when(), "remaining": None}
        _oracle.expect_waiting(t, "sleep", _oracle.sleep_timer(t), state)
    ev = asyncio.Event()
    _oracle.expect_waiting(loop.create_task(ev.wait(), name="waiter"), "event", ev,
                           {"set": False, "waiters": 1})
    keep = loop.call_later(5400, nothing)
    loop.call_later(9000, nothing).cancel()
    _oracle.keep(ev, keep)
    _oracle.expect_loop(ready=0, timers=3, can_wake=True)
    _oracle.snapshot_when_parked()
    await _oracle.forever()


if __name__ == "__main__":
    _oracle.main(main)
