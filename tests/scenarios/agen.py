"""Async generators.

"async-for": suspended in `async for` over an async generator that is
itself suspended in its body (awaiting an Event);
"anext": awaits anext(agen) directly;
"nested-agen": `async for` over an async generator that does `async for`
over another one;
"acm": inside `async with` of a contextlib.asynccontextmanager whose
generator body awaits a child task "acm-child".
format_call_graph stops at the async generator's asend object: the
generator's own frames are not in the call stacks.
"""
import asyncio
import contextlib

import _oracle


async def ticks(event):
    yield 1
    await event.wait()
    yield 2


async def outer_ticks(event):
    async for x in ticks(event):
        yield x


async def consume(agen):
    async for _ in agen:
        pass


async def use_anext(event):
    agen = ticks(event)
    await anext(agen)
    await anext(agen)


async def leaf(event):
    await event.wait()


@contextlib.asynccontextmanager
async def resource(event):
    await asyncio.create_task(leaf(event), name="acm-child")
    yield


async def use_acm(event):
    async with resource(event):
        pass


async def main():
    event = asyncio.Event()
    asyncio.create_task(consume(ticks(event)), name="async-for")
    asyncio.create_task(use_anext(event), name="anext")
    asyncio.create_task(consume(outer_ticks(event)), name="nested-agen")
    asyncio.create_task(use_acm(event), name="acm")
    _oracle.snapshot_when_parked()
    await event.wait()


if __name__ == "__main__":
    _oracle.main(main)
