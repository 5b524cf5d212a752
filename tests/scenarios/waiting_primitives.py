"""What each task waits on: every asyncio primitive, with a known state.

One loop (the main thread's); every named task below is parked on an
object this program made, and declares it with _oracle.expect_waiting()
(DIR/waiting.json, checked against the objects at the snapshot):

  event-1, event-2    Event.wait() on one unset Event (2 waiters: shared)
  event-flag          Event.wait() on another Event whose flag was then set
                      by hand (ev._value = True, without waking the waiter:
                      a state Event.set() never leaves, so that the flag is
                      read, not assumed)
  lock-holder         holds a Lock, parked on the plain future `park`
  lock-waiter-1, -2   Lock.acquire() of that Lock (locked, 2 waiters: shared)
  sem-holder-1, -2    hold a Semaphore(2) (value 0)
  sem-waiter-1, -2    Semaphore.acquire() (value 0, 2 waiters)
  bsem-holder, bsem-waiter
                      the same with a BoundedSemaphore(1)
  cond-waiter-1, -2   Condition.wait(); then cond-holder takes the
                      condition's lock (locked, 2 waiters)
  queue-get           Queue.get() on an empty Queue
  queue-put           Queue.put() on a full Queue(maxsize=1)
  pqueue-put-1, -2    PriorityQueue.put() on a full PriorityQueue(maxsize=2)
  lifo-get-1, -2      LifoQueue.get() on an empty LifoQueue
  barrier-1, -2       Barrier(3).wait() (2 of 3 parties waiting, filling)
  sleeper             asyncio.sleep(3600)
  awaited, awaits-task
                      awaits-task awaits the task `awaited` (parked on park)
  awaits-future       awaits a plain future
  gather-child-1, -2, gatherer
                      gatherer awaits gather(a done future, child 1, child 2)
  shielded, shielder  shielder awaits shield(shielded)
  tg-parent, tg-child-1, tg-child-2
                      tg-parent in TaskGroup.__aexit__, waiting for 2 children
  in-timeout          Event.wait() inside asyncio.timeout(3600)
  in-wait-for         wait_for(Event.wait(), 3600) on the same Event: both
                      have the timeout's deadline in their state
  awaits-duck         awaits a future-like object that is no asyncio.Future
                      (kind "unknown")
"""
import asyncio
import sys

import _oracle

VERSIONS = ("3.11", "3.12", "3.13", "3.14", "3.15")
SLEEP = 3600


class DuckFuture:
    """A future as the Task step accepts it (_asyncio_future_blocking,
    get_loop, add_done_callback), not an asyncio.Future: a third-party
    future type the tool does not know."""

    _asyncio_future_blocking = False

    def __init__(self, loop):
        self._loop = loop
        self._callbacks = []

    def get_loop(self):
        return self._loop

    def add_done_callback(self, fn, *, context=None):
        self._callbacks.append((fn, context))

    def remove_done_callback(self, fn):
        return 0

    def done(self):
        return False

    def cancel(self, msg=None):
        return False

    def __await__(self):
        self._asyncio_future_blocking = True
        yield self
        raise RuntimeError("never completed")


async def hold(prim, park):
    """Acquire prim (a Lock, Semaphore, Condition) and park holding it."""
    await prim.acquire()
    await park


async def cond_wait(cond):
    async with cond:
        await cond.wait()


async def sleeper(rec):
    loop = asyncio.get_running_loop()
    rec["before"] = loop.time()
    await asyncio.sleep(SLEEP)


async def gatherer(rec, *aws):
    rec["gather"] = asyncio.gather(*aws)
    await rec["gather"]


async def tg_parent(rec, park):
    async with asyncio.TaskGroup() as tg:
        rec["tg"] = tg
        tg.create_task(park_on(park), name="tg-child-1")
        tg.create_task(park_on(park), name="tg-child-2")


async def park_on(fut):
    await fut


async def in_timeout(rec, ev):
    async with asyncio.timeout(SLEEP) as cm:
        rec["cm"] = cm
        await ev.wait()


async def shielder(inner):
    await asyncio.shield(inner)


async def settle():
    """Let every task started so far run until it parks."""
    for _ in range(10):
        await asyncio.sleep(0)


async def main():
    loop = asyncio.get_running_loop()
    park = loop.create_future()
    expect = _oracle.expect_waiting
    task = loop.create_task

    # Event
    ev = asyncio.Event()
    for n in (1, 2):
        expect(task(ev.wait(), name="event-%d" % n), "event", ev,
               {"set": False, "waiters": 2})
    ev_flag = asyncio.Event()
    t = task(ev_flag.wait(), name="event-flag")
    await settle()
    ev_flag._value = True
    expect(t, "event", ev_flag, {"set": True, "waiters": 1})

    # Lock: a holder, two waiters on the same lock
    lock = asyncio.Lock()
    expect(task(hold(lock, park), name="lock-holder"), "future", park, {})
    await settle()
    for n in (1, 2):
        expect(task(lock.acquire(), name="lock-waiter-%d" % n), "lock", lock,
               {"locked": True, "waiters": 2})

    # Semaphore(2) with two holders and two waiters; BoundedSemaphore(1)
    sem = asyncio.Semaphore(2)
    bsem = asyncio.BoundedSemaphore(1)
    for n in (1, 2):
        expect(task(hold(sem, park), name="sem-holder-%d" % n), "future", park, {})
    expect(task(hold(bsem, park), name="bsem-holder"), "future", park, {})
    await settle()
    for n in (1, 2):
        expect(task(sem.acquire(), name="sem-waiter-%d" % n), "semaphore", sem,
               {"value": 0, "waiters": 2})
    expect(task(bsem.acquire(), name="bsem-waiter"), "semaphore", bsem,
           {"value": 0, "waiters": 1})

    # Condition: two waiters (wait() releases the lock), then a holder
    cond = asyncio.Condition()
    for n in (1, 2):
        expect(task(cond_wait(cond), name="cond-waiter-%d" % n), "condition", cond,
               {"locked": True, "waiters": 2})
    await settle()
    expect(task(hold(cond, park), name="cond-holder"), "future", park, {})

    # Queues
    q_empty = asyncio.Queue()
    expect(task(q_empty.get(), name="queue-get"), "queue", q_empty,
           {"operation": "get", "size": 0, "maxsize": 0, "getters": 1, "putters": 0})
    q_full = asyncio.Queue(maxsize=1)
    q_full.put_nowait("x")
    expect(task(q_full.put("y"), name="queue-put"), "queue", q_full,
           {"operation": "put", "size": 1, "maxsize": 1, "getters": 0, "putters": 1})
    pq = asyncio.PriorityQueue(maxsize=2)
    pq.put_nowait((1, "a"))
    pq.put_nowait((2, "b"))
    for n in (1, 2):
        expect(task(pq.put((n, "c")), name="pqueue-put-%d" % n), "queue", pq,
               {"operation": "put", "size": 2, "maxsize": 2, "getters": 0,
                "putters": 2})
    lifo = asyncio.LifoQueue()
    for n in (1, 2):
        expect(task(lifo.get(), name="lifo-get-%d" % n), "queue", lifo,
               {"operation": "get", "size": 0, "maxsize": 0, "getters": 2,
                "putters": 0})

    # Barrier(3), two parties waiting
    barrier = asyncio.Barrier(3)
    for n in (1, 2):
        expect(task(barrier.wait(), name="barrier-%d" % n), "barrier", barrier,
               {"parties": 3, "waiting": 2, "state": "filling"})

    # sleep: the deadline is the TimerHandle's when(), between the time
    # before the call and the snapshot's, plus SLEEP
    rec = {}
    t = task(sleeper(rec), name="sleeper")

    def sleep_state(h):
        assert rec["before"] + SLEEP <= h.when() <= loop.time() + SLEEP, (
            rec["before"], h.when(), loop.time())
        return {"deadline": h.when(), "remaining": None}
    expect(t, "sleep", _oracle.sleep_timer(t), sleep_state)

    # a task awaiting a task; a task awaiting a plain future
    parked = loop.create_future()
    awaited = task(park_on(parked), name="awaited")
    expect(awaited, "future", parked, {})
    expect(task(park_on(awaited), name="awaits-task"), "task", awaited, {})
    fut = loop.create_future()
    expect(task(park_on(fut), name="awaits-future"), "future", fut, {})

    # gather(done future, child, child): 3 children, 1 done
    done = loop.create_future()
    done.set_result(None)
    children = [task(park_on(park), name="gather-child-%d" % n) for n in (1, 2)]
    for c in children:
        expect(c, "future", park, {})
    grec = {}
    expect(task(gatherer(grec, done, *children), name="gatherer"), "gather",
           lambda: grec["gather"], {"children": 3, "done": 1})

    # shield(task)
    shielded = task(park_on(park), name="shielded")
    expect(shielded, "future", park, {})
    expect(task(shielder(shielded), name="shielder"), "shield", shielded, {})

    # TaskGroup.__aexit__ waiting for its two children
    trec = {}
    expect(task(tg_parent(trec, park), name="tg-parent"), "taskgroup",
           lambda: trec["tg"], {"tasks": 2})

    # inside asyncio.timeout(), and wait_for() (a timeout too, 3.12+): the
    # deadline is the Timeout's when()
    ev_t = asyncio.Event()
    torec = {}
    expect(task(in_timeout(torec, ev_t), name="in-timeout"), "event", ev_t,
           lambda: {"set": False, "waiters": 2, "timeout": torec["cm"].when()})
    t = task(asyncio.wait_for(ev_t.wait(), SLEEP), name="in-wait-for")
    before = loop.time()

    def wait_for_timer():
        # 3.11: wait_for() waits on a future of its own, which a timer
        # (call_later(timeout, _release_waiter, waiter)) completes
        return _oracle.sleep_timer(t)()

    def wait_for_timeout_state(h):
        assert before + SLEEP <= h.when() <= loop.time() + SLEEP
        return {"deadline": h.when(), "remaining": None}

    def wait_for_state():
        timers = [h for h in loop._scheduled if not h.cancelled() and
                  getattr(h._callback, "__self__", None) is not None and
                  getattr(h._callback.__self__, "_task", None) is t]
        assert len(timers) == 1 and before + SLEEP <= timers[0].when() <= loop.time() + SLEEP
        return {"set": False, "waiters": 2, "timeout": timers[0].when()}
    if sys.version_info >= (3, 12):
        expect(t, "event", ev_t, wait_for_state)
    else:
        expect(t, "timeout", wait_for_timer, wait_for_timeout_state)

    # a future of a type the tool does not know
    duck = DuckFuture(loop)
    expect(task(park_on(duck), name="awaits-duck"), "unknown", duck, {})

    _oracle.keep(park, ev, ev_flag, ev_t, lock, sem, bsem, cond, q_empty, q_full, pq, lifo,
                 barrier, parked, fut, done, duck)
    # the sleep's and the two timeouts' timers: the loop can wake
    _oracle.expect_loop(ready=0, timers=3, can_wake=True)
    _oracle.snapshot_when_parked()
    await park


if __name__ == "__main__":
    _oracle.main(main)
