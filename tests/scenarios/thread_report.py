"""Every thread of a process, not only its tasks (the thread report).

The main thread's loop is parked in its selector: Task-1 runs a TaskGroup
with "idle" (parked on a future) and "offload", which awaits
asyncio.to_thread(): the executor's thread "asyncio_0" is blocked in
threading.Event.wait().  The other threads, each a few frames deep:

  sleeper     time.sleep() in nap(), called from the generator naps()
  Thread-N (locker)
              unnamed (threading's default name): threading.Lock.acquire()
              of a lock the main thread holds, in grab(), called from the
              coroutine hold_lock() that locker() drives by hand (send)
  cruncher    a pure-Python loop in churn() that never ends (CPU-bound: its
              line changes)
  (no name)   started with _thread.start_new_thread, so not in threading's
              registry: Event.wait() at the bottom of a recursion
              deep_wait(3) -> ... -> deep_wait(0)
  loop-2      a second event loop (asyncio.run): a main task with a
              TaskGroup of "l2-a" and "l2-b"

After the oracle, DIR/threads.json: each thread's stack and name (3.14+).
"""
import asyncio
import threading
import time

import _oracle

VERSIONS = ("3.14", "3.15")     # the thread truth reads frame.f_generator
LOCK = threading.Lock()         # held by the main thread, forever
NEVER = threading.Event()       # never set


# --- sleeper: time.sleep under a generator
def nap():
    _ = (_oracle.thread_blocking(), time.sleep(10**6))


def naps():
    yield nap()


def sleeper():
    for _ in naps():
        pass


# --- the unnamed thread: Lock.acquire under a coroutine driven by hand
def grab():
    _ = (_oracle.thread_blocking(), LOCK.acquire())


async def hold_lock():
    grab()


def locker():
    hold_lock().send(None)


# --- cruncher: CPU-bound, forever
def churn():
    x = 1
    while True:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        y = x ^ (x >> 7)
        x = y | 1


def crunch():
    _oracle.thread_blocking(cpu_bound=True)
    churn()


def cruncher():
    crunch()


# --- a thread threading does not know (never call current_thread() here)
def deep_wait(n):
    if n:
        return deep_wait(n - 1)
    _ = (_oracle.thread_blocking(), NEVER.wait())


def raw_waiter():
    deep_wait(3)


# --- the asyncio.to_thread worker
def wait_in_pool():
    _ = (_oracle.thread_blocking(), NEVER.wait())


def offloaded():
    wait_in_pool()


async def offload():
    await asyncio.to_thread(offloaded)


# --- loop-2
async def second_loop():
    _oracle.thread_parked()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_oracle.forever(), name="l2-a")
        tg.create_task(_oracle.forever(), name="l2-b")


async def main():
    LOCK.acquire()
    _oracle.start_thread(sleeper, name="sleeper")
    _oracle.start_thread(locker)
    _oracle.start_thread(cruncher, name="cruncher")
    _oracle.start_raw_thread(raw_waiter)
    _oracle.run_loop_thread(second_loop, name="loop-2")
    # sleeper, locker, cruncher, the raw thread, the to_thread worker
    _oracle.snapshot_with_threads(blocking=5)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_oracle.forever(), name="idle")
        tg.create_task(offload(), name="offload")


if __name__ == "__main__":
    _oracle.main(main)
