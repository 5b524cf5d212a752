"""Crash inside a running asyncio task, leaving a kernel core dump.

Run as `python3.X abort_task.py DIR`: builds a small graph (a TaskGroup
with waiting workers), then, inside a task, writes the in-process oracle
(format_call_graph() of every other task, and of the running task itself,
computed on the same source line as the abort) to DIR/oracle.json and
calls os.abort() there. The kernel writes DIR/core (core_pattern "core",
RLIMIT_CORE raised here).
"""
import asyncio
import json
import os
import resource
import sys
import threading

out = sys.argv[1]
os.chdir(out)
resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
oracle = {"tasks": [], "current": {}}


def record(current_text):
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    tid = threading.get_native_id()  # this thread's, not the child's
    tasks = list(asyncio.all_tasks(loop))  # the child's lists are not ours
    if os.fork() == 0:  # names are materialised by get_name(): not in the parent
        for t in tasks:
            if t is not me:
                oracle["tasks"].append({"id": hex(id(t)), "kind": "task",
                                        "callgraph": asyncio.format_call_graph(t)})
        oracle["current"][str(tid)] = current_text
        oracle["running"] = hex(id(me))
        with open("oracle.json.tmp", "w") as f:
            json.dump(oracle, f)
        os.rename("oracle.json.tmp", "oracle.json")
        os._exit(0)
    os.wait()


def crash():
    record(asyncio.format_call_graph()); os.abort()  # noqa: E702 (one line on purpose)


async def waiter(event):
    await event.wait()


async def crasher():
    await asyncio.sleep(0.05)
    crash()


async def main():
    event = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        for n in range(3):
            group.create_task(waiter(event), name=f"waiter-{n}")
        group.create_task(crasher(), name="crasher")


asyncio.run(main())
