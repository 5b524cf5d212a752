"""Generator-based awaitables.

"custom-await": awaits an object whose __await__ is a generator
(`yield from` a future);
"types-coroutine": awaits a @types.coroutine generator that yields from a
future;
"nested-gen": awaits a @types.coroutine generator that yields from another
generator-based awaitable;
"await-task-gen": a custom awaitable whose __await__ yields from a task
(the task "gen-awaited" is awaited by "await-task-gen").
"""
import asyncio
import types

import _oracle


class Waiter:
    def __init__(self, future):
        self.future = future

    def __await__(self):
        return (yield from self.future)


@types.coroutine
def gen_wait(future):
    return (yield from future)


@types.coroutine
def gen_nested(future):
    return (yield from Waiter(future).__await__())


async def custom_await(future):
    await Waiter(future)


async def types_coroutine(future):
    await gen_wait(future)


async def nested_gen(future):
    await gen_nested(future)


async def leaf(future):
    await future


async def await_task_gen(future):
    task = asyncio.create_task(leaf(future), name="gen-awaited")
    await Waiter(task)


async def main():
    future = asyncio.get_running_loop().create_future()
    asyncio.create_task(custom_await(future), name="custom-await")
    asyncio.create_task(types_coroutine(future), name="types-coroutine")
    asyncio.create_task(nested_gen(future), name="nested-gen")
    asyncio.create_task(await_task_gen(future), name="await-task-gen")
    _oracle.snapshot_when_parked()
    await Waiter(future)


if __name__ == "__main__":
    _oracle.main(main)
