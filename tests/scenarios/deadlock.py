"""A deadlock that no await cycle shows: two tasks, two locks.

`left` takes lock A, `right` takes lock B; through two queues each tells
the other it holds its lock and waits to hear the same back (a
handshake, so both hold their lock before either asks for the other's);
then `left` asks for B and `right` for A.  Task-1 awaits `left`.
Nothing is scheduled: no ready callback, no timer, no file descriptor but
the loop's self-pipe, nothing another thread could complete.  The graph
has no cycle (a task does not await a lock's holder); DIR/waiting.json
says each waits on the lock the other holds, and the loop cannot wake
(can_wake false).
"""
import asyncio

import _oracle

VERSIONS = ("3.11", "3.12", "3.13", "3.14", "3.15")


async def side(mine, theirs, tell, hear):
    async with mine:
        await tell.put("holding")
        await hear.get()
        async with theirs:
            pass


async def main():
    loop = asyncio.get_running_loop()
    lock_a, lock_b = asyncio.Lock(), asyncio.Lock()
    to_left, to_right = asyncio.Queue(), asyncio.Queue()
    left = loop.create_task(side(lock_a, lock_b, to_right, to_left), name="left")
    right = loop.create_task(side(lock_b, lock_a, to_left, to_right), name="right")
    _oracle.expect_waiting(left, "lock", lock_b, {"locked": True, "waiters": 1})
    _oracle.expect_waiting(right, "lock", lock_a, {"locked": True, "waiters": 1})
    _oracle.keep(lock_a, lock_b, to_left, to_right)
    _oracle.expect_loop(ready=0, timers=0, can_wake=False)
    _oracle.snapshot_when_parked()
    await left


if __name__ == "__main__":
    _oracle.main(main)
