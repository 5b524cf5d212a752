"""asyncio's call graph for Python 3.11-3.13, rebuilt from what the objects hold.

CPython 3.14 records who awaits whom (`Future._asyncio_awaited_by`, filled
by the Task step, gather(), shield(), wait(), as_completed(), TaskGroup and
staggered_race()) and prints the graph with `asyncio.capture_call_graph()`
and `asyncio.format_call_graph()` (Lib/asyncio/graph.py).  Older versions
record nothing, but the objects still say who waits for whom.  This module
rebuilds the edges 3.14 would have recorded from that evidence alone, and
renders them exactly as 3.14's graph.py does:

    capture_call_graph(future=None, /, *, depth=1, limit=None, awaited_by=None)
    format_call_graph(future=None, /, *, depth=1, limit=None, awaited_by=None)
    print_call_graph(future=None, /, *, file=None, depth=1, limit=None, awaited_by=None)
    format_graph(graph)            the text of an already captured graph

`awaited_by` is an `AwaitedBy` (built once per snapshot: give it every
pending task), or None for one built from all the tasks this module can
enumerate.  It reads attributes, done callbacks and their closures; it never
changes an object, never patches asyncio and calls nothing that changes
state (not even `Task.get_name()`, which only the rendering calls).  A
reader of a process's memory finds the same evidence at the same places, so
this is also the specification of how py-async-graph rebuilds edges for
3.11-3.13 targets.

Where the evidence is (an edge "F awaited by T"; each F is a future or task):

  fut_waiter    T is blocked on F: `T._fut_waiter is F` (its wake-up
                callback `task_wakeup`, bound to T, is on F).
  taskgroup     F was created by `TaskGroup.create_task`: F's done callback
                is the bound method `TaskGroup._on_task_done`; T is the
                group's `_parent_task`.
  gather        F is a pending child of a pending gather(): F's done
                callback `gather.<locals>._done_callback` has the
                _GatheringFuture G in its closure cell `outer`; T is who
                awaits G (through any of these rules, so nested gathers and
                gather() inside shield() or wait_for() follow).
  shield        F is the inner future of a pending shield(): F's callback
                `shield.<locals>._inner_done_callback`, closure cell `outer`;
                T is who awaits that outer future.
  wait          F is in the set of asyncio.wait(): callback
                `_wait.<locals>._on_completion`, closure cell `waiter`; T is
                the task blocked on that waiter.
  wait_for      F is watched by wait_for() (3.11) or by _cancel_and_wait()
                (wait_for with a timeout <= 0, and 3.11's timeout path):
                callback `functools.partial(_release_waiter, waiter)`; T is
                the task blocked on the waiter.
  as_completed  F is one of as_completed()'s futures: callback
                `_AsCompletedIterator._handle_completion` (3.13+) or
                `as_completed.<locals>._on_completion` (3.11, 3.12); T is a
                task blocked on a getter of its result queue (`_done` /
                closure cell `done`, `Queue._getters`).
  staggered     F was started by staggered_race() (3.13.1+): callback
                `staggered_race.<locals>.task_done`, closure cell
                `on_completed_fut`; T is the task blocked on it.
  declared      an edge the program made by hand with
                `asyncio.future_add_to_awaited_by()` (3.14+): there is no
                evidence of it in the objects; `AwaitedBy(declared=...)`
                takes such edges from whoever knows them.

As in 3.14, an edge exists only between two native `_asyncio.Future`
instances (tasks included), and a future's awaiters come out in the order
of the `set` 3.14 keeps them in: the awaiters are collected in the order
3.14 added them (the order of the callbacks on F, which are added together
with the edges) and inserted into a new set the way 3.14 does (the first
awaiter is stored alone; at the second a set is made and the second awaiter
goes in first).  See tests/scenarios/README.md, "Where the rebuilt graph
differs from 3.14", for the cases this cannot reproduce.
"""

import dataclasses
import functools
import inspect
import sys
import types

from asyncio import events
from asyncio import futures
from asyncio import tasks

try:
    from _asyncio import Future as _NativeFuture
except ImportError:     # pragma: no cover - every CPython build has it
    _NativeFuture = None

__all__ = (
    "AwaitedBy",
    "FrameCallGraphEntry",
    "FutureCallGraph",
    "capture_call_graph",
    "format_call_graph",
    "format_graph",
    "print_call_graph",
    "frame_kind",
    "EVIDENCE",
)

# How an edge was found; the names oracle.json uses ("awaited_by_evidence").
FUT_WAITER = "fut_waiter"
TASKGROUP = "taskgroup"
GATHER = "gather"
SHIELD = "shield"
WAIT = "wait"
WAIT_FOR = "wait_for"
AS_COMPLETED = "as_completed"
STAGGERED = "staggered"
DECLARED = "declared"
EVIDENCE = (FUT_WAITER, TASKGROUP, GATHER, SHIELD, WAIT, WAIT_FOR,
            AS_COMPLETED, STAGGERED, DECLARED)

_CO_GENERATOR = inspect.CO_GENERATOR
_CO_COROUTINE = inspect.CO_COROUTINE
_CO_ASYNC_GENERATOR = inspect.CO_ASYNC_GENERATOR


@dataclasses.dataclass(frozen=True, slots=True)
class FrameCallGraphEntry:
    frame: types.FrameType


@dataclasses.dataclass(frozen=True, slots=True)
class FutureCallGraph:
    future: futures.Future
    call_stack: tuple
    awaited_by: tuple


# ---------------------------------------------------------------------------
# reading objects

def _is_native(obj):
    """3.14 records edges only between _asyncio.Future instances."""
    return _NativeFuture is not None and isinstance(obj, _NativeFuture)


def _done(fut):
    try:
        return fut.done()
    except Exception:   # an uninitialised future
        return True


def _callbacks(fut):
    """The done callbacks of fut, in the order they were added."""
    try:
        cbs = fut._callbacks
    except Exception:
        return []
    res = []
    for item in cbs or ():
        res.append(item[0] if isinstance(item, tuple) else item)
    return res


def _function(obj):
    """The plain function behind a function or bound method, else None."""
    fn = getattr(obj, "__func__", obj)
    return fn if isinstance(fn, types.FunctionType) else None


def _named(fn, module, qualname):
    return (fn is not None and fn.__qualname__ == qualname
            and fn.__module__ == module)


def _cell(fn, name):
    """The value of the closure cell `name` of function fn, or None."""
    try:
        i = fn.__code__.co_freevars.index(name)
        return fn.__closure__[i].cell_contents
    except (AttributeError, ValueError, IndexError, TypeError):
        return None


def _classify(cb):
    """What a done callback says about the future it is on:
    (evidence, object) or (None, None).  For fut_waiter and taskgroup the
    object is the awaiting task, for the others the future (or queue) the
    awaiter is blocked on."""
    if isinstance(cb, types.BuiltinMethodType):
        # the C Task's wake-up callback, bound to the blocked task
        if cb.__name__ == "task_wakeup":
            return FUT_WAITER, cb.__self__
        return None, None
    if isinstance(cb, types.MethodType):
        fn, owner = cb.__func__, cb.__self__
        if _named(fn, "asyncio.tasks", "Task.__wakeup"):
            return FUT_WAITER, owner        # the pure-Python Task
        if _named(fn, "asyncio.taskgroups", "TaskGroup._on_task_done"):
            return TASKGROUP, getattr(owner, "_parent_task", None)
        if _named(fn, "asyncio.tasks", "_AsCompletedIterator._handle_completion"):
            return AS_COMPLETED, getattr(owner, "_done", None)
        return None, None
    if isinstance(cb, functools.partial):
        if _named(_function(cb.func), "asyncio.tasks", "_release_waiter"):
            return WAIT_FOR, (cb.args[0] if cb.args else None)
        return None, None
    fn = _function(cb)
    if fn is None:
        return None, None
    if _named(fn, "asyncio.tasks", "gather.<locals>._done_callback"):
        return GATHER, _cell(fn, "outer")
    if _named(fn, "asyncio.tasks", "shield.<locals>._inner_done_callback"):
        return SHIELD, _cell(fn, "outer")
    if _named(fn, "asyncio.tasks", "_wait.<locals>._on_completion"):
        return WAIT, _cell(fn, "waiter")
    if _named(fn, "asyncio.tasks", "as_completed.<locals>._on_completion"):
        return AS_COMPLETED, _cell(fn, "done")
    if _named(fn, "asyncio.staggered", "staggered_race.<locals>.task_done"):
        return STAGGERED, _cell(fn, "on_completed_fut")
    return None, None


def _as_recorded(awaiters):
    """The frozenset 3.14's `_asyncio_awaited_by` returns for a future
    whose awaiters were added in this order: the first is kept alone; when
    the second comes, a set is made with the second added first, then the
    first; later ones are added in turn.  Iterating it gives 3.14's order."""
    if len(awaiters) == 1:
        return frozenset(awaiters)
    s = set()
    s.add(awaiters[1])
    s.add(awaiters[0])
    for a in awaiters[2:]:
        s.add(a)
    return frozenset(s)


def all_pending_tasks():
    """Every pending task this module can enumerate: the registries of
    asyncio.tasks (3.11: `_all_tasks`; 3.12+: `_scheduled_tasks` and
    `_eager_tasks`) and, where 3.14+ keeps native tasks elsewhere, the
    running loop's tasks."""
    found = {}
    for name in ("_all_tasks", "_scheduled_tasks", "_eager_tasks"):
        reg = getattr(tasks, name, None)
        if reg is None:
            continue
        for _ in range(1000):   # a WeakSet can change while it is copied
            try:
                items = list(reg)
                break
            except RuntimeError:
                continue
        else:
            items = []
        for t in items:
            found.setdefault(id(t), t)
    loop = events._get_running_loop()
    if loop is not None:
        for t in tasks.all_tasks(loop):
            found.setdefault(id(t), t)
    return [t for t in found.values() if not _done(t)]


# ---------------------------------------------------------------------------
# the edges

class AwaitedBy:
    """Who awaits each future, rebuilt from one snapshot of the objects.

    tasks: every pending task (for tasks blocked on a future that has
    completed but whose wake-up has not run yet: the callback is gone from
    the future, `_fut_waiter` still points at it); declared: (future,
    waiter) pairs made by hand with future_add_to_awaited_by().

    Calling it on a future returns what 3.14's `fut._asyncio_awaited_by`
    would: None, or a frozenset in 3.14's iteration order.  The results
    are cached: build a new one when the program has run."""

    def __init__(self, tasks=None, declared=()):
        if tasks is None:
            tasks = all_pending_tasks()
        self._tasks = list(tasks)           # kept alive: ids stay valid
        self._blocked = {}                  # id(future) -> [task]
        for t in self._tasks:
            w = getattr(t, "_fut_waiter", None)
            if w is not None:
                self._blocked.setdefault(id(w), []).append(t)
        self._declared = {}
        self._objects = []
        for fut, waiter in declared:
            self._declared.setdefault(id(fut), []).append(waiter)
            self._objects.append((fut, waiter))
        self._dropped = set()
        self._cache = {}

    # the recursive step: (awaiter, evidence) in the order 3.14 adds them
    def _edges(self, fut, seen):
        if id(fut) in seen:
            return []
        seen = seen | {id(fut)}
        out = []
        for cb in _callbacks(fut):
            how, obj = _classify(cb)
            if how is None or obj is None:
                continue
            if how == FUT_WAITER:
                if getattr(obj, "_fut_waiter", None) is fut:
                    out.append((obj, how))
            elif how == TASKGROUP:
                out.append((obj, how))
            elif how in (GATHER, SHIELD):
                # the gather/shield future obj: while it is pending, whoever
                # awaits it awaits fut
                if not _done(obj):
                    out.extend((a, how) for a, _ in self._edges(obj, seen))
            elif how == AS_COMPLETED:
                for getter in list(getattr(obj, "_getters", None) or ()):
                    out.extend((a, how) for a, _ in self._edges(getter, seen))
            else:   # WAIT, WAIT_FOR, STAGGERED: obj is what the caller awaits
                out.extend((a, how) for a, _ in self._edges(obj, seen))
        # tasks blocked on fut whose wake-up is already scheduled
        for t in self._blocked.get(id(fut), ()):
            if getattr(t, "_fut_waiter", None) is fut and not any(a is t for a, _ in out):
                out.append((t, FUT_WAITER))
        return out

    def evidence(self, fut):
        """[(awaiter, evidence)] of fut, in the order 3.14 would have added
        them, each awaiter once (its first edge)."""
        key = id(fut)
        if key in self._cache:
            return self._cache[key][0]
        res = []
        if _is_native(fut):
            seen = set()
            edges = self._edges(fut, frozenset())
            edges += [(w, DECLARED) for w in self._declared.get(key, ())]
            for a, how in edges:
                if _is_native(a) and a is not fut and id(a) not in seen \
                        and (key, id(a)) not in self._dropped:
                    seen.add(id(a))
                    res.append((a, how))
        recorded = _as_recorded([a for a, _ in res]) if res else None
        self._cache[key] = (res, recorded, fut)
        return res

    def __call__(self, fut):
        """What 3.14's fut._asyncio_awaited_by would be: None or a frozenset."""
        self.evidence(fut)
        return self._cache[id(fut)][1]

    def discard(self, fut, waiter):
        """Forget the edge fut <- waiter (as future_discard_from_awaited_by)."""
        self._dropped.add((id(fut), id(waiter)))
        self._cache.pop(id(fut), None)


# ---------------------------------------------------------------------------
# call stacks (3.14's graph.py, with attributes every version has)

def frame_kind(frame):
    """'async', 'async generator', 'generator' or '' (a plain function): what
    3.14 derives from `frame.f_generator`, here from the code's flags."""
    flags = frame.f_code.co_flags
    if flags & _CO_COROUTINE:
        return "async"
    if flags & _CO_ASYNC_GENERATOR:
        return "async generator"
    if flags & _CO_GENERATOR:
        return "generator"
    return ""


def _is_async_frame(frame):
    return bool(frame.f_code.co_flags & (_CO_COROUTINE | _CO_ASYNC_GENERATOR))


def _is_generator_frame(frame):
    return bool(frame.f_code.co_flags
                & (_CO_GENERATOR | _CO_COROUTINE | _CO_ASYNC_GENERATOR))


def _default_awaited_by(awaited_by):
    return AwaitedBy() if awaited_by is None else awaited_by


def _build_graph_for_future(future, *, limit, awaited_by):
    if not isinstance(future, futures.Future):
        raise TypeError(
            f"{future!r} object does not appear to be compatible "
            f"with asyncio.Future"
        )
    coro = None
    get_coro = getattr(future, "get_coro", None)
    if get_coro and limit != 0:
        coro = get_coro()

    stack = []
    while coro is not None:
        if hasattr(coro, "cr_await"):
            # a native coroutine (or a duck-typed one)
            if coro.cr_frame is not None:
                stack.append(FrameCallGraphEntry(coro.cr_frame))
            coro = coro.cr_await
        elif hasattr(coro, "ag_await"):
            # 3.14 takes cr_frame here too (an async generator has none)
            stack.append(FrameCallGraphEntry(coro.cr_frame))
            coro = coro.ag_await
        else:
            # a future's iterator, an asend object, a generator: stop
            break

    parents = [_build_graph_for_future(p, limit=limit, awaited_by=awaited_by)
               for p in awaited_by(future) or ()]
    if limit is not None:
        if limit > 0:
            stack = stack[:limit]
        elif limit < 0:
            stack = stack[limit:]
    stack.reverse()
    return FutureCallGraph(future, tuple(stack), tuple(parents))


def capture_call_graph(future=None, /, *, depth=1, limit=None, awaited_by=None):
    """capture_call_graph() of 3.14's asyncio.graph, for any version.

    For a future that is not the running task: its coroutine chain
    (`cr_await`) and its awaiters.  For the running task: the frames of the
    caller (skipping `depth` - 1 frames) down to the coroutine the task
    runs, plain functions and generators included."""
    awaited_by = _default_awaited_by(awaited_by)
    loop = events._get_running_loop()

    if future is not None:
        if loop is None or future is not tasks.current_task(loop=loop):
            return _build_graph_for_future(future, limit=limit,
                                           awaited_by=awaited_by)
    else:
        if loop is None:
            raise RuntimeError(
                'capture_call_graph() is called outside of a running '
                'event loop and no *future* to introspect was provided')
        future = tasks.current_task(loop=loop)

    if future is None:
        return None
    if not isinstance(future, futures.Future):
        raise TypeError(
            f"{future!r} object does not appear to be compatible "
            f"with asyncio.Future"
        )

    stack = []
    f = sys._getframe(depth) if limit != 0 else None
    try:
        while f is not None:
            stack.append(FrameCallGraphEntry(f))
            # the outermost coroutine frame of the task: the frame below it
            # is not a generator's (the loop's callback running the step)
            if (_is_async_frame(f) and f.f_back is not None
                    and not _is_generator_frame(f.f_back)):
                break
            f = f.f_back
    finally:
        del f

    parents = [_build_graph_for_future(p, limit=limit, awaited_by=awaited_by)
               for p in awaited_by(future) or ()]
    if limit is not None:
        limit *= -1
        if limit > 0:
            stack = stack[:limit]
        elif limit < 0:
            stack = stack[limit:]
    return FutureCallGraph(future, tuple(stack), tuple(parents))


def frame_line(frame):
    """One call-stack line of format_call_graph (without indentation)."""
    code = frame.f_code
    kind = frame_kind(frame)
    return (f"  |   File {code.co_filename!r}, line {frame.f_lineno}, in"
            f" {kind + ' ' if kind else ''}{code.co_qualname}()")


def _render(graph, buf, level):
    indent = level * "    "
    fut = graph.future
    if isinstance(fut, tasks.Task):
        buf.append(f"{indent}* Task(name={fut.get_name()!r}, id={id(fut):#x})")
    else:
        buf.append(f"{indent}* Future(id={id(fut):#x})")
    if graph.call_stack:
        buf.append(f"{indent}  + Call stack:")
        for entry in graph.call_stack:
            buf.append(indent + frame_line(entry.frame))
    if graph.awaited_by:
        buf.append(f"{indent}  + Awaited by:")
        for parent in graph.awaited_by:
            _render(parent, buf, level + 1)


def format_graph(graph):
    """The text format_call_graph() prints for a captured graph ('' for
    None)."""
    if graph is None:
        return ""
    buf = []
    _render(graph, buf, 0)
    return "\n".join(buf)


def format_call_graph(future=None, /, *, depth=1, limit=None, awaited_by=None):
    """format_call_graph() of 3.14's asyncio.graph, for any version."""
    graph = capture_call_graph(future, depth=depth + 1, limit=limit,
                               awaited_by=awaited_by)
    try:
        return format_graph(graph)
    finally:
        del graph


def print_call_graph(future=None, /, *, file=None, depth=1, limit=None,
                     awaited_by=None):
    """print_call_graph() of 3.14's asyncio.graph, for any version."""
    print(format_call_graph(future, depth=depth + 1, limit=limit,
                            awaited_by=awaited_by), file=file)
