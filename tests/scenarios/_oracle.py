"""In-process oracle shared by the scenario programs of py-async-graph.

A scenario is run as `python3.X SCENARIO.py --out DIR`.  It builds a task
graph, parks every task, and then (through this module):

1. the loops are left to settle (nothing ready to run, every thread that
   runs a loop has parked, threads that are meant to exit have exited);
2. from a loop callback (no task is running) the process fork()s; the child
   computes `asyncio.format_call_graph()` and `asyncio.capture_call_graph()`
   of every pending task and of every plain Future met as an awaiter,
   writes DIR/oracle.json atomically (temp file + rename) and _exit()s.
   Task names are materialised lazily by `Task.get_name()`, which the
   formatting calls: doing it in the child leaves the parent's memory as a
   memory reader would have found it.  The child has the same addresses;
3. the parent waits for the child, then creates DIR/ready and parks forever.

For a loop blocked by a synchronous call, `finish_current()` does the same
from inside the running task, on the source line of the blocking call.

With `snapshot_with_threads()` instead of `snapshot_when_parked()`, the
parent also writes the truth about every thread, DIR/threads.json, before
DIR/ready: the Python stack of each thread (sys._current_frames(), sampled
from a short-lived thread while the main thread is parked in its loop's
select) and its threading name.

A scenario that declares what its tasks wait on (expect_waiting(),
expect_loop()) also gets DIR/waiting.json, written at the snapshot before
the oracle and checked against the objects first.

See README.md in this directory for the oracle.json format.
"""

import _thread
import asyncio
import dis
import json
import os
import platform
import signal
import sys
import threading
import time
import traceback
import warnings

_state = {"out": None, "scenario": None, "snapshot_scheduled": False,
          "interpreter": 0,   # this interpreter's id (concurrent.interpreters)
          "part": None,       # in another interpreter: the file of its part
          "thread_truth": False, "blocking": 0}
_interpreters = []      # (coro_fn, thread name): run_interpreter_thread()
_registry = []          # _LoopEntry, in registration order
_started_threads = []   # (threading.Thread, _LoopEntry or None)
_cycles = []            # declared cycles: lists of futures, awaiter first
_keep = []              # objects kept alive on purpose (loops of exited threads...)
_blocking = {}          # ident -> {"native_thread_id", "cpu_bound"}: threads
                        # without a loop that called thread_blocking()
_registry_lock = threading.Lock()


class _LoopEntry:
    def __init__(self, loop):
        self.loop = loop
        self.thread = threading.current_thread()
        self.native_thread_id = threading.get_native_id()
        self.thread_name = self.thread.name
        self.parked = threading.Event()


# ---------------------------------------------------------------------------
# running a scenario

def _parse_args(argv):
    out = None
    i = 0
    while i < len(argv):
        if argv[i] == "--out" and i + 1 < len(argv):
            out = argv[i + 1]
            i += 2
        elif argv[i].startswith("--out="):
            out = argv[i][len("--out="):]
            i += 1
        else:
            raise SystemExit("usage: %s --out DIR" % sys.argv[0])
    if out is None:
        raise SystemExit("usage: %s --out DIR" % sys.argv[0])
    return out


def register_loop(loop):
    """Record `loop` as owned by the calling thread; returns it."""
    entry = _LoopEntry(loop)
    with _registry_lock:
        _registry.append(entry)
    _keep.append(loop)
    return loop


def _entry_for(loop):
    with _registry_lock:
        for e in _registry:
            if e.loop is loop:
                return e
    return None


def loop_factory(task_factory=None):
    """A loop_factory for asyncio.run() that registers the new loop."""
    def factory():
        loop = register_loop(asyncio.new_event_loop())
        if task_factory is not None:
            loop.set_task_factory(task_factory)
        return loop
    return factory


def main(coro_fn, task_factory=None):
    """Entry point of a scenario: parse --out, run coro_fn() as the main
    task of the main thread's loop.  coro_fn never returns (it parks)."""
    _state["out"] = os.path.abspath(_parse_args(sys.argv[1:]))
    _state["scenario"] = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    os.makedirs(_state["out"], exist_ok=True)
    # a safety net against leaked scenario processes: SIGALRM's default
    # action ends the process after PYAG_SCENARIO_LIFETIME seconds (0: never)
    lifetime = int(os.environ.get("PYAG_SCENARIO_LIFETIME", "3600"))
    if lifetime > 0:
        signal.alarm(lifetime)
    _run(coro_fn(), loop_factory(task_factory))


def start_thread(fn, *args, name=None):
    """Start a thread running fn(*args).  The snapshot waits until it has
    either parked (thread_parked() from its loop) or exited."""
    t = threading.Thread(target=fn, args=args, name=name, daemon=True)
    _started_threads.append(t)
    _keep.append(t)
    t.start()
    return t


def start_raw_thread(fn, *args):
    """Start a thread with _thread.start_new_thread: no threading.Thread
    stands for it, so it is not in threading's registry (it has no name).
    Nothing in it may call threading.current_thread(), which would register
    a _DummyThread.  fn must call thread_blocking()."""
    _thread.start_new_thread(fn, args)


def thread_blocking(cpu_bound=False):
    """Called by a thread that runs no loop, on the source line of the call
    that blocks it for good:

        _ = (_oracle.thread_blocking(), time.sleep(10**6))

    or, with cpu_bound=True, right before the pure-Python loop it never
    leaves (threads.json marks it: its innermost line changes).  The
    snapshot counts it as parked."""
    with _registry_lock:
        _blocking[_thread.get_ident()] = {
            "native_thread_id": _thread.get_native_id(), "cpu_bound": cpu_bound}


def run_loop_thread(coro_fn, *args, name=None):
    """A thread running asyncio.run(coro_fn(*args)) on a registered loop;
    coro_fn must call thread_parked() once its graph is built."""
    def body():
        _run(coro_fn(*args), loop_factory())
    return start_thread(body, name=name)


def run_interpreter_thread(coro_fn, name=None):
    """Another interpreter (concurrent.interpreters, PEP 734) that runs
    asyncio.run(coro_fn()) on a registered loop, from a thread `name` of
    this interpreter.  coro_fn is a module-level coroutine function of the
    scenario (the new interpreter imports the scenario's file as a module
    to find it) and calls snapshot_when_parked() once its graph is built.

    The interpreter is started only after this interpreter's oracle is
    written: a fork() while another interpreter runs in some thread
    crashes the child (3.14.10, 3.15.2: SIGSEGV in PyOS_AfterFork_Child).
    No fork is possible in that interpreter: it writes its part of the
    oracle itself, in place, to DIR/interpreter-ID.json; once every part
    is there, oracle.json gets the tasks of all of them, then DIR/ready is
    written."""
    _interpreters.append((coro_fn, name))


def _start_interpreter(coro_fn, name):
    """Create the interpreter and its thread; the path of its part."""
    from concurrent import interpreters
    interp = interpreters.create()
    part = os.path.join(_state["out"], "interpreter-%d.json" % interp.id)
    here = os.path.dirname(os.path.abspath(__file__))
    module = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    code = ("import sys\n"
            "sys.path.insert(0, %r)\n"
            "import _oracle\n"
            "_oracle._run_part(%r, %r, %r, %r, %r)\n"
            % (here, module, coro_fn.__name__, _state["out"], _state["scenario"], part))

    def body():
        try:
            interp.exec(code)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(3)

    t = threading.Thread(target=body, name=name, daemon=True)
    _keep.extend((t, interp))
    t.start()
    return part, t


def _run_part(module, fn_name, out, scenario, part):
    """In an interpreter started by run_interpreter_thread()."""
    import importlib
    from concurrent import interpreters
    _state.update(out=out, scenario=scenario, part=part,
                  interpreter=interpreters.get_current().id)
    coro_fn = getattr(importlib.import_module(module), fn_name)
    asyncio.run(coro_fn(), loop_factory=loop_factory())


def _merge_interpreters(main_part, filenames, timeout=60):
    """Start the other interpreters; write each oracle file with their parts."""
    started = [_start_interpreter(fn, name) for fn, name in _interpreters]
    parts = [_part_path(part, fn) for part, _ in started for fn in filenames]
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(part) for part in parts):
        if time.monotonic() > deadline:
            raise RuntimeError("no oracle part from the other interpreters "
                               "after %ds" % timeout)
        time.sleep(0.01)
    for fn in filenames:
        with open(_part_path(main_part, fn), encoding="utf-8") as f:
            doc = json.load(f)
        for part, t in started:
            with open(_part_path(part, fn), encoding="utf-8") as f:
                doc["tasks"].extend(json.load(f)["tasks"])
            doc["threads"].append({"native_thread_id": t.native_id, "thread_name":
                                   t.name, "main": False, "exited": False})
        _write_doc(doc, os.path.join(_state["out"], fn))


def keep(*objs):
    """Keep objects alive for the life of the process."""
    _keep.extend(objs)


def declare_cycle(futs):
    """Declare an await cycle: futs[0] awaits futs[1] ... awaits futs[0]."""
    _cycles.append(list(futs))


async def forever():
    """Park the calling task on a future that never completes."""
    await asyncio.get_running_loop().create_future()


# What follows forever() was added after it: forever()'s line is in the
# oracles of 3.14 and 3.15 (the call stack of every task parked in it),
# which keep their content.

import _graph_backport  # noqa: E402  (the graph rebuilt for 3.11-3.13)

_declared = []          # (future, waiter) edges made with add_awaited_by()


def _run(coro, factory):
    """asyncio.run(coro, loop_factory=factory); 3.11's asyncio.run has no
    loop_factory, its asyncio.Runner has."""
    if sys.version_info >= (3, 12):
        asyncio.run(coro, loop_factory=factory)
    else:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(coro)


def add_awaited_by(fut, waiter):
    """asyncio.future_add_to_awaited_by(fut, waiter) (3.14+), remembered:
    no object holds evidence of such an edge, so the backport is told of
    it (as a "declared" edge) to stay comparable with 3.14."""
    asyncio.future_add_to_awaited_by(fut, waiter)
    _declared.append((fut, waiter))


def lazy_task(loop, coro, name=None):
    """A task of loop that does not start eagerly, whatever the loop's task
    factory: create_task(eager_start=False) (3.14+), else a plain
    asyncio.Task (3.12, 3.13)."""
    if sys.version_info >= (3, 14):
        return loop.create_task(coro, name=name, eager_start=False)
    return asyncio.Task(coro, loop=loop, name=name)


# ---------------------------------------------------------------------------
# settling

def _quiet(loop):
    return not loop._ready


def _threads_parked():
    with _registry_lock:
        if len(_blocking) < _state["blocking"]:
            return False
    for t in _started_threads:
        if not t.is_alive():
            continue
        e = None
        with _registry_lock:
            for x in _registry:
                if x.thread is t:
                    e = x
            blocked = t.ident in _blocking
        if e is None and not blocked:
            return False
        if e is not None and not e.parked.is_set():
            return False
    return True


def when_settled(fn, *, wait_threads=True, quiet=5):
    """Call fn() from a callback of the running loop once nothing else has
    been ready to run for `quiet` consecutive iterations and (if
    wait_threads) every started thread has parked or exited."""
    loop = asyncio.get_running_loop()

    def step(n):
        n = n + 1 if _quiet(loop) else 0
        if n < quiet:
            loop.call_soon(step, n)
        elif wait_threads and not _threads_parked():
            loop.call_later(0.01, step, 0)
        else:
            fn()

    loop.call_soon(step, 0)


def thread_parked():
    """Called from a task of a thread's loop: mark that loop parked once
    it has settled."""
    e = _entry_for(asyncio.get_running_loop())
    if e is None:
        raise RuntimeError("thread_parked(): loop not registered")
    when_settled(e.parked.set, wait_threads=False)


def snapshot_when_parked():
    """Called from the main thread's loop: once everything is parked, write
    the oracle and DIR/ready."""
    if _state["snapshot_scheduled"]:
        return
    _state["snapshot_scheduled"] = True
    when_settled(_snapshot)


def snapshot_with_threads(blocking):
    """snapshot_when_parked(), once `blocking` threads have also called
    thread_blocking(); after the oracle and before DIR/ready, writes
    DIR/threads.json (see README.md)."""
    _state["thread_truth"] = True
    _state["blocking"] = blocking
    snapshot_when_parked()


# ---------------------------------------------------------------------------
# the oracle

def _frame_entry(f):
    """One call-stack entry, rendered the way format_call_graph does."""
    if f.f_generator is None:
        return {"function": f.f_code.co_qualname,
                "filename": f.f_code.co_filename,
                "line": f.f_lineno, "kind": ""}
    c = f.f_generator
    try:
        f = c.cr_frame
        code = c.cr_code
        kind = "async"
    except AttributeError:
        try:
            f = c.ag_frame
            code = c.ag_code
            kind = "async generator"
        except AttributeError:
            f = c.gi_frame
            code = c.gi_code
            kind = "generator"
    return {"function": code.co_qualname, "filename": f.f_code.co_filename,
            "line": f.f_lineno, "kind": kind}


def _backport_frame_entry(f):
    """_frame_entry() from what every version has (no f_generator)."""
    return {"function": f.f_code.co_qualname, "filename": f.f_code.co_filename,
            "line": f.f_lineno, "kind": _graph_backport.frame_kind(f)}


class _Asyncio:
    """The interpreter's own asyncio.graph (3.14+)."""

    name = "asyncio"

    def __init__(self, tasks):
        pass

    def awaiters(self, fut):
        return list(fut._asyncio_awaited_by or ())

    def evidence(self, fut):
        return None

    def capture(self, fut):
        return asyncio.capture_call_graph(fut)

    def capture_current(self, depth):
        """capture_call_graph(depth=depth) as if called by our caller."""
        return asyncio.capture_call_graph(depth=depth + 1)

    def format(self, fut):
        return asyncio.format_call_graph(fut)

    def format_captured(self, g):
        """format_call_graph() of an already captured graph g."""
        real = asyncio.graph.capture_call_graph
        asyncio.graph.capture_call_graph = lambda *a, **k: g
        try:
            return asyncio.format_call_graph()
        finally:
            asyncio.graph.capture_call_graph = real

    def discard(self, fut, waiter):
        asyncio.future_discard_from_awaited_by(fut, waiter)

    def frame_entry(self, f):
        return _frame_entry(f)


class _Backport:
    """The graph rebuilt from the objects (_graph_backport.py): for 3.11-3.13,
    and on 3.14+ to check it against the real one."""

    name = "backport"

    def __init__(self, tasks):
        self.index = _graph_backport.AwaitedBy(tasks, declared=_declared)

    def awaiters(self, fut):
        return list(self.index(fut) or ())

    def evidence(self, fut):
        how = {id(a): h for a, h in self.index.evidence(fut)}
        return [how[id(a)] for a in self.awaiters(fut)]

    def capture(self, fut):
        return _graph_backport.capture_call_graph(fut, awaited_by=self.index)

    def capture_current(self, depth):
        return _graph_backport.capture_call_graph(depth=depth + 1,
                                                  awaited_by=self.index)

    def format(self, fut):
        return _graph_backport.format_call_graph(fut, awaited_by=self.index)

    def format_captured(self, g):
        return _graph_backport.format_graph(g)

    def discard(self, fut, waiter):
        self.index.discard(fut, waiter)

    def frame_entry(self, f):
        return _backport_frame_entry(f)


def _jobs():
    """[(implementation class, file name)] of the oracles to write.

    Python 3.11-3.13 have no asyncio.capture_call_graph(): there the graph
    3.14 would report is rebuilt from the objects by _graph_backport.py.
    $PYAG_ORACLE chooses: `auto` (default: the interpreter's own
    asyncio.graph where it exists, else the backport), `asyncio`,
    `backport`, or `both` (oracle.json as `auto`, and oracle-backport.json
    from the backport, written by a second child of the same parent, so
    with the same ids: tests/harness/check_backport.py compares the two on
    3.14)."""
    mode = os.environ.get("PYAG_ORACLE") or "auto"
    native = hasattr(asyncio, "capture_call_graph")
    if mode not in ("auto", "asyncio", "backport", "both"):
        raise RuntimeError("PYAG_ORACLE=%s: expected auto, asyncio, backport "
                           "or both" % mode)
    if mode == "asyncio" and not native:
        raise RuntimeError("PYAG_ORACLE=asyncio: Python %s has no "
                           "asyncio.capture_call_graph" % platform.python_version())
    first = _Backport if mode == "backport" or not native else _Asyncio
    jobs = [(first, "oracle.json")]
    if mode == "both":
        jobs.append((_Backport, "oracle-backport.json"))
    return jobs


def _is_task(fut):
    return isinstance(fut, asyncio.Task)


def _head(fut):
    return {"id": hex(id(fut)), "kind": "task" if _is_task(fut) else "future",
            "name": fut.get_name() if _is_task(fut) else None}


def _render_graph(g, impl):
    d = _head(g.future)
    d["call_stack"] = [impl.frame_entry(e.frame) for e in g.call_stack]
    d["awaited_by"] = [_render_graph(a, impl) for a in g.awaited_by]
    return d


def _nodes_on_cycles(nodes, impl):
    """Ids of the nodes on a cycle of the awaited-by graph (Tarjan)."""
    index, low, stack, on, res = {}, {}, [], set(), set()
    counter = [0]
    by_id = {id(n): n for n in nodes}

    def succ(v):
        return [id(w) for w in impl.awaiters(by_id[v]) if id(w) in by_id]

    for root in by_id:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter[0]
                counter[0] += 1
                stack.append(v)
                on.add(v)
            ws = succ(v)
            if i < len(ws):
                work.append((v, i + 1))
                w = ws[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in succ(v):
                    res.update(comp)
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return res


def _pending_tasks(entries):
    """Pending tasks of every registered loop: [(task, native_thread_id)]."""
    out, seen = [], set()
    for e in entries:
        tid = e.native_thread_id if e.thread.is_alive() else 0
        for t in asyncio.all_tasks(e.loop):
            if id(t) not in seen:
                seen.add(id(t))
                out.append((t, tid))
    return out


def _collect(tasks, impl):
    """The tasks, then the plain futures met as awaiters.  Returns
    [(future, native_thread_id)]."""
    out = list(tasks)
    seen = {id(t) for t, _ in out}
    i = 0
    while i < len(out):
        for w in impl.awaiters(out[i][0]):
            if id(w) not in seen:
                seen.add(id(w))
                e = _entry_for(w.get_loop())
                tid = None if e is None else (
                    e.native_thread_id if e.thread.is_alive() else 0)
                out.append((w, tid))
        i += 1
    return out


def _threads_info(entries):
    main_tid = threading.main_thread().native_id
    res = []
    for t in threading.enumerate():
        res.append({"native_thread_id": t.native_id, "thread_name": t.name,
                    "main": t.native_id == main_tid, "exited": False})
    for e in entries:
        if not e.thread.is_alive():
            res.append({"native_thread_id": e.native_thread_id,
                        "thread_name": e.thread_name, "main": False,
                        "exited": True})
    return res


def _write_oracle(impl, futs, threads, pid, path, running=None):
    """In the forked child: compute the oracle with impl (an _Asyncio or a
    _Backport) and write it to path.  running: (task, captured graph,
    native_thread_id) of the task that is executing on a blocked thread,
    or None."""
    nodes = [f for f, _ in futs]
    on_cycle = _nodes_on_cycles(nodes, impl)
    declared = set()
    for c in _cycles:
        declared.update(id(f) for f in c)
        for a, b in zip(c, c[1:] + c[:1]):
            if a not in impl.awaiters(b):
                raise AssertionError("declared cycle edge %#x awaits %#x is "
                                     "not in the graph" % (id(a), id(b)))
    if on_cycle != declared:
        raise AssertionError("await cycles found %s, declared %s" % (
            sorted(map(hex, on_cycle)), sorted(map(hex, declared))))
    # nodes whose awaited-by closure reaches a cycle: format_call_graph
    # would recurse forever on them
    affected = set(on_cycle)
    todo = list(on_cycle)
    while todo:
        v = todo.pop()
        for n in nodes:
            if id(n) not in affected and any(id(w) == v for w in impl.awaiters(n)):
                affected.add(id(n))
                todo.append(id(n))

    current = {}
    tasks = []
    for fut, tid in futs:
        d = _head(fut)
        d["interpreter"] = _state["interpreter"]
        d["native_thread_id"] = tid
        d["running"] = False
        d["awaited_by_ids"] = [hex(id(w)) for w in impl.awaiters(fut)]
        evidence = impl.evidence(fut)
        if evidence is not None:
            d["awaited_by_evidence"] = evidence
        if running is not None and fut is running[0]:
            g = running[1]
            text = impl.format_captured(g)
            d["running"] = True
            d["callgraph"] = text
            d["graph"] = _render_graph(g, impl)
            current[str(running[2])] = text
        elif id(fut) in affected:
            d["callgraph"] = None
            d["graph"] = None
        else:
            d["callgraph"] = impl.format(fut)
            d["graph"] = _render_graph(impl.capture(fut), impl)
        tasks.append(d)
    # call stacks of the nodes format_call_graph cannot render: capture
    # them with their awaited-by edges removed (this is a throw-away child)
    if affected:
        for n in nodes:
            if id(n) in affected:
                for w in impl.awaiters(n):
                    impl.discard(n, w)
        for d, (fut, _) in zip(tasks, futs):
            if id(fut) in affected:
                g = impl.capture(fut)
                d["call_stack"] = [impl.frame_entry(e.frame) for e in g.call_stack]

    doc = {
        "scenario": _state["scenario"],
        "python": platform.python_version(),
        "hexversion": sys.hexversion,
        "pid": pid,
        "tasks": tasks,
        "threads": threads,
        "cycles": [[hex(id(f)) for f in c] for c in _cycles],
        "current": current,
    }
    if impl.name != "asyncio":
        doc["oracle"] = impl.name
    _write_doc(doc, path)


def _write_doc(doc, path):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        # indented for reading by eye, compact when large
        json.dump(doc, f, ensure_ascii=False,
                  indent=1 if len(doc["tasks"]) <= 1000 else None)
        f.write("\n")
    os.rename(tmp, path)


def _part_path(base, filename):
    """The file of an interpreter's part of the oracle `filename`:
    DIR/interpreter-N.json for oracle.json, DIR/interpreter-N-backport.json
    for oracle-backport.json."""
    stem, ext = os.path.splitext(base)
    return stem + filename[len("oracle"):-len(ext)] + ext


def _prepare():
    """In the parent: the loops, the tasks, the threads and one
    implementation per oracle file to write."""
    with _registry_lock:
        entries = list(_registry)
    tasks = _pending_tasks(entries)
    impls = [(cls([t for t, _ in tasks]), filename) for cls, filename in _jobs()]
    return entries, tasks, impls


def _fork_and_write(prepared, running=None, ready=True):
    """Fork once per oracle file; each child writes one; the parent waits
    for each, then writes DIR/ready (after the other interpreters' parts, if
    any: see run_interpreter_thread(); not when ready is false).  Exits the
    process if a child failed.  running: (task, native_thread_id, [captured
    graph per file])."""
    entries, tasks, impls = prepared
    threads = _threads_info(entries)
    pid = os.getpid()
    paths = []
    for n, (impl, filename) in enumerate(impls):
        path = os.path.join(_state["out"], filename)
        if _interpreters:
            path = _part_path(os.path.join(_state["out"], "interpreter-0.json"),
                              filename)
        paths.append(path)
        futs = _collect(tasks, impl)
        run = None if running is None else (running[0], running[2][n], running[1])
        sys.stdout.flush()
        sys.stderr.flush()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            child = os.fork()
        if child == 0:
            code = 0
            try:
                _write_oracle(impl, futs, threads, pid, path, run)
            except BaseException:
                traceback.print_exc()
                code = 1
            try:
                sys.stderr.flush()
            finally:
                os._exit(code)
        del futs, run
        _, status = os.waitpid(child, 0)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            sys.stderr.write("oracle: the child writing %s failed "
                             "(status %#x)\n" % (filename, status))
            sys.stderr.flush()
            os._exit(3)
    if _interpreters:
        _merge_interpreters(paths[0], [filename for _, filename in impls])
    if ready:
        _write_ready()


def _write_ready():
    with open(os.path.join(_state["out"], "ready"), "w") as f:
        f.write("%d\n" % os.getpid())


def _write_part():
    """In another interpreter (no fork there): its part of the oracle,
    computed in place.  Its unnamed tasks' names are materialised by
    get_name() here, in the process itself, unlike the main
    interpreter's."""
    try:
        entries, tasks, impls = _prepare()
        for impl, filename in impls:
            _write_oracle(impl, _collect(tasks, impl), [], os.getpid(),
                          _part_path(_state["part"], filename))
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(3)


def _snapshot():
    if _state["part"]:
        _write_part()
        return
    try:
        if _waiting or _loop_facts:
            _write_waiting()
        _fork_and_write(_prepare(), ready=not _state["thread_truth"])
        if _state["thread_truth"]:
            _start_sampler()
            return
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(3)
    _print_ready()


def _print_ready():
    print("ready: %d tasks written to %s" % (
        sum(len(asyncio.all_tasks(e.loop)) for e in _registry), _state["out"]),
        flush=True)


def finish_current():
    """Called from a plain function executing inside a running task, on the
    same source line as the call that will block the thread:

        _ = (_oracle.finish_current(), time.sleep(10**6))

    Captures the running task's call graph from the caller's frame
    (capture_call_graph(depth=2) here: the caller and below), writes the
    oracle for every task with that task marked running and its text under
    "current", then writes DIR/ready and returns."""
    try:
        me = asyncio.current_task()
        prepared = _prepare()
        graphs = []
        for impl, _ in prepared[2]:     # not a comprehension: a frame in 3.11
            graphs.append(impl.capture_current(2))
        _fork_and_write(prepared, running=(me, threading.get_native_id(), graphs))
        del graphs
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(3)
    print("ready: blocking thread %d" % threading.get_native_id(), flush=True)


# ---------------------------------------------------------------------------
# the thread truth (snapshot_with_threads): DIR/threads.json

def _thread_frame(f):
    """One frame of a thread's stack: the code's qualified name and file,
    the frame's line, and the kind of its owner (a generator, coroutine or
    async generator executing on the thread, or a plain function)."""
    kind = ""
    g = f.f_generator
    if g is not None:
        if hasattr(g, "cr_frame"):
            kind = "async"
        elif hasattr(g, "ag_frame"):
            kind = "async generator"
        else:
            kind = "generator"
    return {"function": f.f_code.co_qualname, "filename": f.f_code.co_filename,
            "line": f.f_lineno, "kind": kind}


def _loop_lines(code):
    """The lines a thread spinning in `code` can be on: those of the
    instructions inside its loops (from each backward jump to its target)."""
    ins = list(dis.get_instructions(code))
    lines = set()
    for j in ins:
        if j.opname.startswith("JUMP_BACKWARD") and j.jump_target is not None:
            lines.update(i.line_number for i in ins
                         if j.jump_target <= i.offset <= j.offset and i.line_number)
    return sorted(lines)


def _task_state(tid):
    """The kernel's state letter of one of our threads (R, S, D...)."""
    try:
        with open("/proc/self/task/%d/stat" % tid) as f:
            return f.read().rpartition(")")[2].split()[0]
    except OSError:
        return None


def _os_threads():
    return {int(x) for x in os.listdir("/proc/self/task")}


def _sample_once(me):
    """One sample of every thread but the sampler (ident `me`):
    {ident: entry}.  Raises if a thread cannot be told apart exactly."""
    frames = sys._current_frames()
    registry = {t.ident: t for t in threading.enumerate()}
    with _registry_lock:
        blocking = dict(_blocking)
        loops = {e.native_thread_id: hex(id(e.loop)) for e in _registry
                 if e.thread.is_alive()}
    main_ident = threading.main_thread().ident
    res = {}
    for ident, f in frames.items():
        if ident == me:
            continue
        t = registry.get(ident)
        b = blocking.get(ident)
        if t is not None:
            # the name a memory reader finds: threading._active[ident]._name
            if threading._active.get(ident) is not t:
                raise RuntimeError("thread %d is not in threading._active" % ident)
            native, name = t.native_id, t._name
        elif b is not None:
            native, name = b["native_thread_id"], None
        else:
            raise RuntimeError("thread %d: neither in threading's registry nor "
                               "registered with thread_blocking()" % ident)
        stack = []
        while f is not None:
            stack.append(_thread_frame(f))
            f = f.f_back
        cpu = bool(b and b["cpu_bound"])
        res[ident] = {"ident": ident, "native_thread_id": native, "name": name,
                      "main": ident == main_ident, "loop": loops.get(native),
                      "cpu_bound": cpu, "stack": stack}
        if cpu:
            code = frames[ident]
            res[ident]["innermost_lines"] = _loop_lines(code.f_code)
    del frames
    # every thread of threading's registry has Python frames (it runs
    # Thread._bootstrap): none is left out of the sample
    missing = set(registry) - set(res) - {me}
    if missing:
        raise RuntimeError("threads without frames: %r" % sorted(missing))
    return res


def _in_select(entry):
    top = entry["stack"][0] if entry["stack"] else None
    return (top is not None and top["filename"].endswith("selectors.py")
            and top["function"].rpartition(".")[2] == "select")


def _settled(a, b):
    """Two samples taken apart show the same parked process: the same
    threads, every stack unchanged (the CPU-bound thread's functions
    unchanged), each loop's thread in its selector, each blocked thread
    asleep in the kernel."""
    if set(a) != set(b):
        return False
    for ident, x in b.items():
        y = a[ident]
        if x["cpu_bound"]:
            if [f["function"] for f in x["stack"]] != [f["function"] for f in y["stack"]]:
                return False
            continue
        if x["stack"] != y["stack"]:
            return False
        if x["loop"] is not None and not _in_select(x):
            return False
        if _task_state(x["native_thread_id"]) != "S":
            return False
    return True


def _sample_threads():
    """In the sampler thread: wait until the process is parked, then write
    DIR/threads.json atomically.  Returns the document."""
    me = _thread.get_ident()
    deadline = time.monotonic() + 60
    prev = _sample_once(me)
    while True:
        time.sleep(0.05)
        cur = _sample_once(me)
        if _settled(prev, cur):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the threads did not settle: %r" % cur)
        prev = cur
    threads = sorted(cur.values(), key=lambda t: (not t["main"], t["native_thread_id"]))
    doc = {"scenario": _state["scenario"], "python": platform.python_version(),
           "pid": os.getpid(), "threads": threads}
    path = os.path.join(_state["out"], "threads.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.rename(tmp, path)
    return doc


def _start_sampler():
    """From a callback of the main thread's loop: start the sampler thread
    and return to the loop, which parks in its selector; the sampler hands
    over to _sampler_done() through the loop."""
    loop = asyncio.get_running_loop()
    result = {}

    def run():
        try:
            result["doc"] = _sample_threads()
        except BaseException:
            result["error"] = traceback.format_exc()
        loop.call_soon_threadsafe(_sampler_done, sampler, result)

    sampler = threading.Thread(target=run, name="pyag-thread-sampler", daemon=True)
    sampler.start()


def _sampler_done(sampler, result):
    """In the main thread: join the sampler (its thread state is gone when
    join returns), check that the process holds exactly the threads of
    threads.json, and write DIR/ready."""
    try:
        sampler.join()
        if "error" in result:
            raise RuntimeError("thread sampler failed:\n" + result["error"])
        threads = result["doc"]["threads"]
        want = {t["native_thread_id"] for t in threads}
        # the kernel may list the sampler's task a moment after join
        deadline = time.monotonic() + 10
        while _os_threads() != want:
            if time.monotonic() > deadline:
                raise RuntimeError("threads of the process %r, of threads.json %r"
                                   % (sorted(_os_threads()), sorted(want)))
            time.sleep(0.01)
        idents = set(sys._current_frames())
        if idents != {t["ident"] for t in threads}:
            raise RuntimeError("Python threads %r, threads.json %r" % (
                sorted(idents), sorted(t["ident"] for t in threads)))
        _write_ready()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(3)
    _print_ready()


# ---------------------------------------------------------------------------
# the waiting truth (expect_waiting, expect_loop): DIR/waiting.json
#
# What each task waits on, and each loop's state, as the scenario itself
# made them: the scenario declares, for a named task, the kind of thing it
# waits on, the object (the Event, Lock, Queue..., see WAIT_KINDS) and the
# state it set; at the snapshot (the same loop callback that forks for the
# oracle, before the fork: nothing here changes an object a memory reader
# looks at) every declaration is checked against the objects themselves
# (the task's _fut_waiter is in that object's deque of waiters, the state
# read back equals the declared one) and written to DIR/waiting.json.  A
# declaration that does not hold fails the scenario (exit 3), so a wrong
# truth is never written.  See README.md in this directory for the format.

import concurrent.futures  # noqa: E402
import re  # noqa: E402
import types as _types  # noqa: E402

_waiting = []       # [task, kind, object or lazy, state or lazy]
_loop_facts = {}    # id(loop) -> (loop, {key: declared value})

# kind -> the state keys, in the order the tool prints them; a task inside
# an asyncio.timeout() (or 3.12+'s wait_for()) has one more, "timeout" (its
# deadline), last
WAIT_KINDS = {
    "task": (), "future": (), "unknown": (), "shield": (),
    "gather": ("children", "done"),
    "event": ("set", "waiters"),
    "lock": ("locked", "waiters"),
    "semaphore": ("value", "waiters"),
    "condition": ("locked", "waiters"),
    "queue": ("operation", "size", "maxsize", "getters", "putters"),
    "barrier": ("parties", "waiting", "state"),
    "sleep": ("deadline", "remaining"),
    "timeout": ("deadline", "remaining"),
    "taskgroup": ("tasks",),
    "executor": ("state", "thread"),
    "stream": ("operation", "fd", "peer"),
    "socket": ("operation", "fd", "peer"),
    "subprocess": ("pid", "returncode"),
}
LOOP_KEYS = ("address", "interpreter", "native_thread_id", "type", "readable",
             "running", "closed", "ready", "timers", "next_deadline", "remaining",
             "fds", "tasks", "can_wake")


def type_name(obj):
    """type(obj)'s module and qualified name: "asyncio.locks.Event"."""
    t = type(obj)
    return "%s.%s" % (t.__module__, t.__qualname__)


def expect_waiting(task, kind, obj, state):
    """Declare that `task` (a task with a name of its own: get_name() is
    called at the snapshot) waits on `obj`, of kind `kind` (a key of
    WAIT_KINDS), whose state is then `state` (a dict with the kind's keys).
    obj and state may be functions without arguments, called at the
    snapshot (state may also take obj): for what exists only once the
    task has parked (a sleep's TimerHandle, a selector's Handle)."""
    if kind not in WAIT_KINDS:
        raise ValueError("unknown kind %r" % kind)
    _waiting.append([task, kind, obj, state])


def expect_loop(loop=None, **facts):
    """Declare facts about a registered loop (default: the running one)
    as loops[] has them (e.g. can_wake=False, timers=3); the snapshot
    checks them against what it computes from the loop."""
    loop = loop or asyncio.get_running_loop()
    _loop_facts.setdefault(id(loop), (loop, {}))[1].update(facts)


def sleep_timer(task):
    """For expect_waiting(): a function that finds, at the snapshot, the
    TimerHandle asyncio.sleep() scheduled for task (sleep() keeps it in a
    local): the one in its loop's heap whose arguments start with the
    future the task waits on."""
    def find():
        hs = [h for h in task.get_loop()._scheduled
              if not h.cancelled() and h._args and h._args[0] is task._fut_waiter]
        assert len(hs) == 1, hs
        return hs[0]
    return find


def _lazy(value, *args):
    if isinstance(value, _types.FunctionType):
        return value(*args[:value.__code__.co_argcount])
    return value


def _holds(container, fut):
    return container is not None and any(f is fut for f in container)


def _closure_holds(fn, obj):
    """Does function fn (or a partial of it) hold obj in a closure cell?"""
    fn = getattr(fn, "func", fn)
    cells = getattr(fn, "__closure__", None) or ()
    for c in cells:
        try:
            if c.cell_contents is obj:
                return True
        except ValueError:
            pass
    return False


def _peer(sock):
    try:
        p = sock.getpeername()
    except OSError:
        return None
    if isinstance(p, tuple) and len(p) >= 2:
        return "%s:%d" % (p[0], p[1])
    return p or None


def _executor_thread(cf):
    """The native id of the worker thread running concurrent future cf:
    the thread whose stack has a _WorkItem.run frame of that future."""
    found = []
    for ident, f in sys._current_frames().items():
        while f is not None:
            if (f.f_code.co_name == "run" and
                    getattr(f.f_locals.get("self"), "future", None) is cf):
                found.append(ident)
                break
            f = f.f_back
    if len(found) > 1:
        raise AssertionError("%d threads run the work item of %r" % (len(found), cf))
    return threading._active[found[0]].native_id if found else None


def _timeout_of(task):
    """The deadline of the asyncio.timeout() task is in (also 3.12+'s
    wait_for()): the live timer of its loop whose callback is
    Timeout._on_timeout of a Timeout of that task; None outside any."""
    found = [h._callback.__self__ for h in task.get_loop()._scheduled
             if not h.cancelled() and isinstance(getattr(h._callback, "__self__", None),
                                                 asyncio.Timeout)
             and h._callback.__self__._task is task]
    if len(found) > 1:
        raise AssertionError("in %d timeouts: which one is not declared" % len(found))
    return found[0].when() if found else None


def _observe(kind, task, obj):
    """What the objects say: (the future the task waits on, its state per
    kind, then "timeout" when the task is in an asyncio.timeout()); raises
    AssertionError when the task does not wait on obj."""
    fut, state = _observe_kind(kind, task, obj)
    deadline = _timeout_of(task)
    if deadline is not None:
        state["timeout"] = deadline
    return fut, state


def _observe_kind(kind, task, obj):
    fut = task._fut_waiter
    if fut is None:
        raise AssertionError("not blocked (_fut_waiter is None)")

    def need(cond, what):
        if not cond:
            raise AssertionError("%s: %s (its _fut_waiter %r)" % (kind, what, fut))

    n = lambda d: len(d) if d is not None else 0  # noqa: E731
    if kind in ("task", "future", "unknown", "gather"):
        need(obj is fut, "the object is the future the task waits on")
        if kind == "task":
            need(isinstance(obj, asyncio.Task), "a Task")
        elif kind == "future":
            need(type(obj) is asyncio.Future, "a plain asyncio.Future")
        elif kind == "unknown":
            need(not isinstance(obj, asyncio.Future), "not an asyncio.Future")
        else:
            need(isinstance(obj, asyncio.tasks._GatheringFuture), "a gather future")
            return fut, {"children": len(obj._children),
                         "done": sum(1 for c in obj._children if c.done())}
        return fut, {}
    if kind == "shield":
        need(fut is not obj and not obj.done() and any(
            getattr(cb, "__qualname__", "") == "shield.<locals>._inner_done_callback"
            and _closure_holds(cb, fut) for cb, _ in obj._callbacks or ()),
            "the shielded future's done callback completes the awaited one")
        return fut, {}
    if kind == "event":
        need(_holds(obj._waiters, fut), "in the Event's _waiters")
        return fut, {"set": obj.is_set(), "waiters": n(obj._waiters)}
    if kind in ("lock", "condition"):
        need(_holds(obj._waiters, fut), "in its _waiters")
        return fut, {"locked": obj.locked(), "waiters": n(obj._waiters)}
    if kind == "semaphore":
        need(_holds(obj._waiters, fut), "in the semaphore's _waiters")
        return fut, {"value": obj._value, "waiters": n(obj._waiters)}
    if kind == "queue":
        op = ("get" if _holds(obj._getters, fut) else
              "put" if _holds(obj._putters, fut) else None)
        need(op, "in the queue's _getters or _putters")
        return fut, {"operation": op, "size": obj.qsize(), "maxsize": obj.maxsize,
                     "getters": n(obj._getters), "putters": n(obj._putters)}
    if kind == "barrier":
        need(_holds(obj._cond._waiters, fut), "in the barrier's condition's _waiters")
        return fut, {"parties": obj.parties, "waiting": obj.n_waiting,
                     "state": obj._state.value}
    if kind in ("sleep", "timeout"):
        need(isinstance(obj, asyncio.TimerHandle) and not obj.cancelled() and
             obj._args and obj._args[0] is fut, "the TimerHandle that completes it")
        return fut, {"deadline": obj.when(), "remaining": None}
    if kind == "taskgroup":
        need(obj._on_completed_fut is fut, "the TaskGroup's _on_completed_fut")
        return fut, {"tasks": len(obj._tasks)}
    if kind == "executor":
        need(isinstance(obj, concurrent.futures.Future) and any(
            _closure_holds(cb, fut) for cb in obj._done_callbacks),
            "a concurrent future chained to the awaited one")
        return fut, {"state": obj._state, "thread": _executor_thread(obj)}
    if kind == "stream":
        if isinstance(obj, asyncio.StreamReader):
            need(obj._waiter is fut, "the StreamReader's _waiter")
            op = "read"
        else:
            need(_holds(obj._drain_waiters, fut), "in the protocol's _drain_waiters")
            op = "drain"
        sock = obj._transport.get_extra_info("socket")
        return fut, {"operation": op, "fd": sock.fileno() if sock else None,
                     "peer": _peer(sock) if sock else None}
    if kind == "socket":
        need(isinstance(obj, asyncio.Handle) and not obj.cancelled() and
             obj._args and obj._args[0] is fut, "the selector Handle that completes it")
        op = obj._callback.__name__
        need(op.startswith("_sock_"), "a loop.sock_*() callback (%s)" % op)
        sock = obj._args[1]
        return fut, {"operation": op[len("_sock_"):], "fd": sock.fileno(),
                     "peer": _peer(sock)}
    if kind == "subprocess":
        need(_holds(obj._exit_waiters, fut), "in the transport's _exit_waiters")
        return fut, {"pid": obj.get_pid(), "returncode": obj.get_returncode()}
    raise AssertionError("no observation for kind %r" % kind)


def _callback_name(handle):
    if handle is None or handle.cancelled():
        return None
    cb = handle._callback
    return getattr(cb, "__qualname__", None) or type_name(cb)


def _loop_facts_of(entry, waits):
    """loops[] entry of a registered loop, from the loop's own objects.
    waits: {task: kind} of the declared tasks."""
    loop = entry.loop
    running = loop.is_running()
    timers = [h for h in loop._scheduled if not h.cancelled()]
    deadline = min((h.when() for h in timers), default=None)
    fds = []
    for key in sorted(loop._selector.get_map().values(), key=lambda k: k.fd):
        reader, writer = key.data
        fds.append({"fd": key.fd, "reader": _callback_name(reader),
                    "writer": _callback_name(writer)})
    tasks = asyncio.all_tasks(loop)
    self_pipe = loop._ssock.fileno()
    other_thread = any(waits.get(t) in ("executor", "subprocess") for t in tasks)
    can_wake = running and bool(loop._ready or timers or other_thread or
                                any(f["fd"] != self_pipe for f in fds))
    return {"address": hex(id(loop)), "interpreter": _state["interpreter"],
            "native_thread_id": entry.native_thread_id
            if running and entry.thread.is_alive() else 0,
            "type": type_name(loop), "readable": True, "running": running,
            "closed": loop.is_closed(), "ready": len(loop._ready),
            "timers": len(timers), "next_deadline": deadline, "remaining": None,
            "fds": fds, "tasks": len(tasks), "can_wake": can_wake}


def _waiting_doc():
    tasks = {}
    kinds = {}
    for task, kind, obj, state in _waiting:
        name = task.get_name()
        if re.match(r"Task-\d+$", name):
            # (an unnamed task's name is made by get_name(): too late now)
            raise AssertionError("expect_waiting(): task %r has no name of its "
                                 "own" % name)
        obj = _lazy(obj)
        state = _lazy(state, obj)
        where = "task %r waits on %s %r" % (name, kind, obj)
        if name in tasks:
            raise AssertionError("%s: two declarations for the name" % where)
        keys = list(WAIT_KINDS[kind]) + (["timeout"] if "timeout" in state else [])
        if sorted(state) != sorted(keys):
            raise AssertionError("%s: state keys %r, expected %r (and timeout)" % (
                where, sorted(state), list(WAIT_KINDS[kind])))
        try:
            fut, seen = _observe(kind, task, obj)
        except AssertionError as e:
            raise AssertionError("%s: %s" % (where, e)) from None
        if seen != state:
            raise AssertionError("%s: declared state %r, the objects say %r" % (
                where, state, seen))
        kinds[task] = kind
        tasks[name] = {"kind": kind, "object": hex(id(obj)), "type": type_name(obj),
                       "state": {k: state[k] for k in keys},
                       "future": hex(id(fut))}
    loops = []
    with _registry_lock:
        entries = list(_registry)
    for e in entries:
        facts = _loop_facts_of(e, kinds)
        declared = _loop_facts.get(id(e.loop), (None, {}))[1]
        bad = {k: (v, facts.get(k)) for k, v in declared.items() if facts.get(k) != v}
        if bad:
            raise AssertionError("loop %s: declared (declared, computed) %r" % (
                facts["address"], bad))
        loops.append(facts)
    return {"scenario": _state["scenario"], "python": platform.python_version(),
            "pid": os.getpid(), "loop_time": asyncio.get_running_loop().time(),
            "tasks": tasks,
            "loops": loops}


def _write_waiting():
    """In the parent, at the snapshot: DIR/waiting.json (temp + rename)."""
    doc = _waiting_doc()
    path = os.path.join(_state["out"], "waiting.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.rename(path + ".tmp", path)
