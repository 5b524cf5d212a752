"""pyag: the asyncio call graph of another Python process, from Python.

A ctypes binding of libpyag (py-async-graph's library). It reads a live
CPython 3.14+ process, or a core dump of one, from the outside (never
running code in it) and returns the graph in the shapes of asyncio.graph:

    import pyag

    g = pyag.capture(1234)                      # or capture(core="core.1234")
    for node in g.tasks:                        # like asyncio.FutureCallGraph
        print(node.future.name, [f.function for f in node.call_stack],
              [a.future.id for a in node.awaited_by])
    print(pyag.format_call_graph(g, g.tasks[0].future.id))
    print(g.render("tree"))                     # python -m asyncio pstree

The session API (Session, run_command) is what the debugger front ends use:
a session reaches a target (a pid, a core, or the caller's memory reader),
run_command() runs the shared `[OPTIONS] [TASK]` command line on it.

Errors raise pyag.Error (.code, .message, .address). Standard library only;
Python 3.9 or later.
"""

import codecs
import collections
import ctypes
import enum
import sys

from . import _ffi

__all__ = [
    "Error", "ErrorCode", "WarningCode", "Style", "Format", "MessageKind",
    "Layout", "Limit", "Session", "Graph", "FutureCallGraph", "Future",
    "FrameCallGraphEntry", "Thread", "GraphWarning", "Facts", "Message",
    "CommandResult", "capture", "format_call_graph", "print_call_graph",
    "run_command", "command_usage", "version", "api_version", "load_library",
    "library_path", "default_cache_dir",
]

API_VERSION = _ffi.API_VERSION


# ---- enums (pyag.h) ---------------------------------------------------------

class ErrorCode(enum.IntEnum):
    NO_MEMORY = 1
    OS = 2
    FAULT = 3
    NO_PROCESS = 4
    PERMISSION = 5
    NOT_PYTHON = 6
    VERSION = 7
    NO_ASYNCIO = 8
    CORRUPT = 9
    BAD_FORMAT = 10
    USAGE = 11
    NOT_FOUND = 12


class WarningCode(enum.IntEnum):
    UNREADABLE = 1
    CORRUPT = 2
    LIMIT = 3
    LAYOUT = 4
    TORN = 5


class Style(enum.IntEnum):
    NONE = 0
    TASK_NAME = 1
    ADDRESS = 2
    FILENAME = 3
    FUNCTION = 4


class Format(enum.IntEnum):
    TREE = 0
    CALLGRAPH = 1
    TABLE = 2
    CSV = 3
    JSON = 4
    DOT = 5


class MessageKind(enum.IntEnum):
    WARNING = 0
    STATS = 1


class Layout(enum.IntEnum):
    AUTO = 0
    OFFSETS = 1
    DWARF = 2


class Limit(enum.IntEnum):
    TASKS = 0
    FRAMES = 1
    SET = 2
    STRING = 3
    THREADS = 4
    INTERPRETERS = 5


_TARGET_LIVE = 0
_TARGET_CORE = 1
_TARGET_KINDS = {"live": _TARGET_LIVE, "core": _TARGET_CORE}
_FRAME_KINDS = ("", "async", "async generator", "generator")
_LAYOUTS = {"auto": Layout.AUTO, "offsets": Layout.OFFSETS,
            "debug-offsets": Layout.OFFSETS, "dwarf": Layout.DWARF}


def _enum(cls, value):
    try:
        return cls(value)
    except ValueError:
        return value  # a code from a newer library: the plain int


def _text(b):
    return None if b is None else b.decode("utf-8", "replace")


def _bytes(s):
    if s is None or isinstance(s, bytes):
        return s
    return str(s).encode("utf-8", "surrogateescape")


# ---- errors -------------------------------------------------------------------

class Error(Exception):
    """A libpyag error: .code (ErrorCode), .message (one line), .address
    (the target address at fault, 0 when none)."""

    def __init__(self, message, code=ErrorCode.USAGE, address=0):
        super().__init__(message)
        self.message = message
        self.code = _enum(ErrorCode, code)
        self.address = address

    def __repr__(self):
        return "pyag.Error(%r, code=%s, address=%#x)" % (
            self.message, getattr(self.code, "name", self.code), self.address)


def _lib():
    try:
        return _ffi.load()
    except _ffi.LoadError as e:
        raise Error(str(e), ErrorCode.OS) from None


def _check(lib, err):
    """Raise the library's error (and release it); err is a pointer or None."""
    if not err:
        return
    try:
        code = lib.pyag_error_code(err)
        message = _text(lib.pyag_error_message(err)) or "unknown error"
        address = lib.pyag_error_address(err)
    finally:
        lib.pyag_error_destroy(err)
    raise Error(message, code, address)


class _Pending:
    """An exception raised inside a callback that C called: kept here and
    raised again once the C function has returned."""

    def __init__(self):
        self.exc = None

    def keep(self, exc):
        if self.exc is None:
            self.exc = exc

    def reraise(self):
        exc, self.exc = self.exc, None
        if exc is not None:
            raise exc


# ---- library facts --------------------------------------------------------------

def load_library(path=None, *, deepbind=None):
    """Load libpyag now (else it is loaded on first use) and return its path.

    path: a specific library; default: $PYAG_LIBRARY, the installed one,
    the build tree, the linker's search path. deepbind: RTLD_DEEPBIND
    (default: on inside gdb or lldb, whose own libdw clashes with libdwarf).
    """
    try:
        _ffi.load(path, deepbind)
    except _ffi.LoadError as e:
        raise Error(str(e), ErrorCode.OS) from None
    return _ffi.loaded_path()


def library_path():
    """The path of the loaded library (None before it is loaded)."""
    return _ffi.loaded_path()


def version():
    """The library's version string ("0.4.0")."""
    return _text(_lib().pyag_version())


def api_version():
    return _lib().pyag_api_version()


def command_usage():
    """The option help shared by every front end."""
    return _text(_lib().pyag_command_usage())


def default_cache_dir():
    """The conventional DWARF layout cache directory, or None."""
    return _text(_lib().pyag_default_cache_dir())


# ---- sessions ---------------------------------------------------------------------

class _Closing:
    """A library object released by close(), at the end of a with block,
    or when Python collects it."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Session(_Closing):
    """How to reach a target; exactly one of:

        Session(pid)                          a live process
        Session(core=PATH, exe=None, sysroot=None)
        Session(read=fn, kind="live"|"core", pid=0)

    read(address, size) -> bytes (exactly size bytes) or None when the
    range is unreadable (a debugger's memory; exceptions count as
    unreadable). The session is a context manager; close() releases it.
    Callbacks given to a session are kept alive as long as it is.
    """

    def __init__(self, pid=None, *, core=None, exe=None, sysroot=None, read=None,
                 kind=None):
        lib = _lib()
        self._lib = lib
        self._ptr = None
        self._refs = {}
        self._pending = _Pending()
        ret = ctypes.c_void_p()
        if exe is not None and core is None:
            raise Error("Session: exe= goes with core=")
        if read is not None:
            if core is not None:
                raise Error("Session: give read= or core=, not both")
            if kind is None:
                kind = "live"
            if kind not in _TARGET_KINDS:
                raise Error("Session: kind must be 'live' or 'core', not %r" % (kind,))
            cb = _ffi.Callbacks.new(kind=_TARGET_KINDS[kind], pid=int(pid or 0))
            self._refs["read"] = cb.read = _ffi.READ_FN(self._make_read(read))
            self._refs["callbacks"] = cb
            _check(lib, lib.pyag_session_create_callbacks(ctypes.byref(cb),
                                                          ctypes.byref(ret)))
            self.kind = kind
        elif core is not None:
            if pid is not None:
                raise Error("Session: give a pid or core=, not both")
            _check(lib, lib.pyag_session_create_core(_bytes(core), _bytes(exe),
                                                     _bytes(sysroot),
                                                     ctypes.byref(ret)))
            self.kind = "core"
            sysroot = None  # given to the core session already
        elif pid is not None:
            pid = _pid(pid)
            _check(lib, lib.pyag_session_create_pid(pid, ctypes.byref(ret)))
            self.kind = "live"
        else:
            raise Error("Session: give a pid, core= or read=")
        self._ptr = ret.value
        self.pid = pid
        if sysroot is not None:
            self.set_sysroot(sysroot)

    def _make_read(self, read):
        pending = self._pending

        def cb(_arg, address, buf, size):
            try:
                data = read(address, size)
            except Exception:
                return -1
            except BaseException as e:  # KeyboardInterrupt: after the call
                pending.keep(e)
                return -1
            if data is None or len(data) < size:
                return -1
            ctypes.memmove(buf, bytes(data[:size]), size)
            return 0
        return cb

    # -- lifetime --
    def close(self):
        ptr, self._ptr = self._ptr, None
        if ptr:
            self._lib.pyag_session_destroy(ptr)
        self._refs.clear()

    @property
    def _handle(self):
        if not self._ptr:
            raise Error("the session is closed")
        return self._ptr

    def _call(self, name, *args):
        _check(self._lib, getattr(self._lib, name)(self._handle, *args))

    # -- settings --
    def set_layout(self, layout):
        """'auto', 'offsets' or 'dwarf' (or a Layout)."""
        self._call("pyag_session_set_layout", _layout(layout))

    def add_debug_dir(self, directory):
        self._call("pyag_session_add_debug_dir", _bytes(directory))

    def set_sysroot(self, sysroot):
        self._call("pyag_session_set_sysroot", _bytes(sysroot))

    def set_waiting(self, waiting):
        """Also capture what each task waits on (Future.awaiting) and the
        event loops (Graph.loops)."""
        self._waiting = bool(waiting)
        self._call("pyag_session_set_waiting", 1 if waiting else 0)

    def set_stop(self, stop):
        """Live pid sessions: stop the threads while reading (True, the
        default) or not (a debugger holds the process stopped already)."""
        self._call("pyag_session_set_stop", 1 if stop else 0)

    def set_cache_dir(self, directory):
        """Keep parsed DWARF layouts in directory (None: no cache)."""
        self._call("pyag_session_set_cache_dir", _bytes(directory))

    def set_symbol_lookup(self, fn):
        """fn(name) -> the address of a global symbol, or None."""
        pending = self._pending

        def cb(_arg, name, address_ret):
            try:
                value = fn(name.decode("utf-8", "replace"))
            except Exception:
                return -1
            except BaseException as e:
                pending.keep(e)
                return -1
            if not value:
                return -1
            address_ret[0] = int(value)
            return 0
        fnp = _ffi.SYMBOL_FN(cb) if fn is not None else _ffi.SYMBOL_FN()
        self._call("pyag_session_set_symbol_fn", fnp, None)
        self._refs["symbol"] = fnp

    def set_mappings(self, mappings):
        """The target's mapped files: (start, end, offset, path) tuples.
        Given (even empty), they are all there is: the library then reads
        no /proc/PID/maps and no core file notes for them."""
        mappings = list(mappings)
        arr = (_ffi.Mapping * max(len(mappings), 1))()
        paths = []
        for i, (start, end, offset, path) in enumerate(mappings):
            paths.append(_bytes(path))
            arr[i].start, arr[i].end, arr[i].offset = start, end, offset
            arr[i].path = paths[-1]
        self._call("pyag_session_set_mappings", arr, len(mappings))
        self._refs["mappings"] = (arr, paths)

    def set_trace(self, fn):
        """fn(path, address, size, ok) for every read (path None: memory)."""
        pending = self._pending

        def cb(_arg, path, address, size, ok):
            try:
                fn(_text(path), address, size, bool(ok))
            except BaseException as e:
                pending.keep(e)
        fnp = _ffi.TRACE_FN(cb) if fn is not None else _ffi.TRACE_FN()
        self._call("pyag_session_set_trace", fnp, None)
        self._refs["trace"] = fnp

    def set_limit(self, which, value):
        """A bound on what a capture takes (Limit.TASKS, ...)."""
        if isinstance(which, str):
            which = Limit[which.upper()]
        self._call("pyag_session_set_limit", int(which), int(value))

    def read(self, address, size):
        """size bytes of the target's memory at address, as a capture
        reads them (uncached; for a few reads)."""
        buf = ctypes.create_string_buffer(size)
        err = self._lib.pyag_session_read(self._handle, address, buf, size)
        if self._pending.exc is not None:
            if err:
                self._lib.pyag_error_destroy(err)
            self._pending.reraise()
        _check(self._lib, err)
        return buf.raw

    # -- capture --
    def capture(self):
        """Read the target once: a Graph."""
        ret = ctypes.c_void_p()
        err = self._lib.pyag_capture(self._handle, ctypes.byref(ret))
        exc = self._pending.exc
        if exc is not None:
            if not err:
                self._lib.pyag_graph_destroy(ret.value)
            else:
                self._lib.pyag_error_destroy(err)
            self._pending.reraise()
        _check(self._lib, err)
        return Graph(self._lib, ret.value, getattr(self, "_waiting", False))


def _pid(pid):
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        raise Error("%r is not a process id" % (pid,)) from None
    if pid <= 0 or pid > 0x7fffffff:
        raise Error("%r is not a process id" % (pid,))
    return pid


def _layout(layout):
    if isinstance(layout, str):
        try:
            return int(_LAYOUTS[layout])
        except KeyError:
            raise Error("unknown layout %r (auto, offsets, dwarf)" % (layout,)) from None
    return int(layout)


def capture(pid=None, *, core=None, exe=None, sysroot=None, layout="auto",
            debug_dirs=(), stop=True, cache_dir=None, waiting=False):
    """The asyncio graph of a live process (pid) or of a core file.

    exe: the executable that produced the core, when the path the core
    records does not exist here; sysroot: a prefix for the target's file
    paths (a container's root, a core from another machine); layout:
    'auto', 'offsets' or 'dwarf'; debug_dirs: directories of separate
    debug files; stop: stop a live process's threads while reading it;
    cache_dir: keep parsed DWARF layouts there; waiting: also capture what
    each task waits on (Future.awaiting) and the event loops (Graph.loops).
    """
    layout = _layout(layout)
    with Session(pid, core=core, exe=exe, sysroot=sysroot) as s:
        s.set_layout(layout)
        for d in debug_dirs:
            s.add_debug_dir(d)
        if pid is not None and not stop:
            s.set_stop(False)
        if cache_dir is not None:
            s.set_cache_dir(cache_dir)
        if waiting:
            s.set_waiting(True)
        return s.capture()


# ---- the graph ----------------------------------------------------------------------

class Future:
    """The task or future a node of the graph stands for (what
    FutureCallGraph.future is inside the process): its address, kind,
    name and where it lives."""

    __slots__ = ("id", "kind", "name", "interpreter", "thread_id",
                 "native_thread_id", "running", "readable", "edges_inferred",
                 "awaiting")

    def __init__(self, id, kind, name=None, interpreter=0, thread_id=0,
                 native_thread_id=0, running=False, readable=True,
                 edges_inferred=False, awaiting=None):
        # edges_inferred: who awaits it was rebuilt from the heap (3.11-3.13)
        self.edges_inferred = edges_inferred
        # what it is blocked on, shaped like JSON's "awaiting" (a dict), or
        # None (not blocked, or not captured)
        self.awaiting = awaiting
        self.id = id
        self.kind = kind
        self.name = name
        self.interpreter = interpreter
        self.thread_id = thread_id
        self.native_thread_id = native_thread_id
        self.running = running
        self.readable = readable

    def get_name(self):
        return self.name

    def __repr__(self):
        if self.kind == "task":
            return "<Task name=%r id=%#x>" % (self.name, self.id)
        return "<Future id=%#x>" % self.id


class FrameCallGraphEntry:
    """One frame of a call stack: co_qualname, co_filename, the line
    (None when unknown) and the code kind ("async", "async generator",
    "generator" or "")."""

    __slots__ = ("function", "filename", "lineno", "kind")

    def __init__(self, function, filename, lineno, kind):
        self.function = function
        self.filename = filename
        self.lineno = lineno
        self.kind = kind

    def __eq__(self, other):
        if not isinstance(other, FrameCallGraphEntry):
            return NotImplemented
        return ((self.function, self.filename, self.lineno, self.kind) ==
                (other.function, other.filename, other.lineno, other.kind))

    def __hash__(self):
        return hash((self.function, self.filename, self.lineno, self.kind))

    def __repr__(self):
        return "<Frame %s%s %s:%s>" % (self.kind + " " if self.kind else "",
                                       self.function, self.filename, self.lineno)


class FutureCallGraph:
    """A task or future of the graph, shaped like asyncio.FutureCallGraph:
    .future, .call_stack (innermost frame first, what
    asyncio.capture_call_graph() shows), .awaited_by (the nodes of the
    tasks and futures that await it). .full_call_stack also has the frames
    CPython's ps/pstree follow through an async generator's asend object.
    """

    __slots__ = ("future", "call_stack", "awaited_by", "full_call_stack", "index")

    def __init__(self, future, call_stack=(), awaited_by=(), full_call_stack=None,
                 index=None):
        self.future = future
        self.call_stack = call_stack
        self.awaited_by = awaited_by
        self.full_call_stack = call_stack if full_call_stack is None else full_call_stack
        self.index = index

    def __repr__(self):
        return "<FutureCallGraph %r, %d frames, awaited by %s>" % (
            self.future, len(self.call_stack),
            ", ".join("%#x" % a.future.id for a in self.awaited_by) or "none")


def _frame_entry(fr):
    kind = _FRAME_KINDS[fr.kind] if 0 <= fr.kind < 4 else ""
    return FrameCallGraphEntry(_text(fr.function), _text(fr.filename),
                               fr.line if fr.line >= 0 else None, kind)


class Thread:
    """A Python thread: interpreter, thread_id (pthread), native_thread_id,
    running_task_id (address or None) and running_task (its node); name
    (threading's, or None), comm (the kernel's, live only, or None),
    holds_gil (True, False, or None when it cannot be told), state
    ('running', 'waiting_for_gil', 'gil_released', 'idle', 'suspended',
    'unknown'), loop (the address of its running event loop, or None) and
    stack (its whole Python stack, FrameCallGraphEntry, innermost first)."""

    __slots__ = ("interpreter", "thread_id", "native_thread_id", "running_task_id",
                 "running_task", "name", "comm", "holds_gil", "state", "loop",
                 "stack")

    def __init__(self, interpreter, thread_id, native_thread_id, running_task_id,
                 running_task, name=None, comm=None, holds_gil=None,
                 state="unknown", loop=None, stack=()):
        self.interpreter = interpreter
        self.thread_id = thread_id
        self.native_thread_id = native_thread_id
        self.running_task_id = running_task_id
        self.running_task = running_task
        self.name = name
        self.comm = comm
        self.holds_gil = holds_gil
        self.state = state
        self.loop = loop
        self.stack = stack

    def __repr__(self):
        return "<Thread native_thread_id=%d name=%r %s running=%s>" % (
            self.native_thread_id, self.name, self.state,
            "%#x" % self.running_task_id if self.running_task_id else None)


GraphWarning = collections.namedtuple("GraphWarning", "code address message")
GraphWarning.__doc__ = "A warning of the graph: damage found while reading it."

Message = collections.namedtuple("Message", "kind code address text")
Message.__doc__ = ("A message of run_command(): a warning (kind WARNING, text "
                   "without 'warning: ') or the --stats line (kind STATS).")


class Facts:
    """How the capture went: kind ('live'/'core'), pid, python, hexversion,
    free_threaded, layout, runtime_found, debug_files, bytes_read,
    read_calls, attempts, elapsed_ms, warnings_dropped."""

    _FIELDS = ("kind", "pid", "python", "hexversion", "free_threaded", "layout",
               "runtime_found", "debug_files", "bytes_read", "read_calls",
               "attempts", "elapsed_ms", "warnings_dropped")
    __slots__ = _FIELDS

    def __init__(self, c):
        self.kind = "core" if c.kind == _TARGET_CORE else "live"
        self.pid = c.pid
        self.python = _text(c.python)
        self.hexversion = c.hexversion
        self.free_threaded = bool(c.free_threaded)
        self.layout = _text(c.layout)
        self.runtime_found = _text(c.runtime_found)
        self.debug_files = _text(c.debug_files)
        self.bytes_read = c.bytes_read
        self.read_calls = c.read_calls
        self.attempts = c.attempts
        self.elapsed_ms = c.elapsed_ms
        self.warnings_dropped = c.warnings_dropped

    def _asdict(self):
        return {k: getattr(self, k) for k in self._FIELDS}

    def __repr__(self):
        return "Facts(%s)" % ", ".join("%s=%r" % kv for kv in self._asdict().items())


class _Collector:
    """A write callback collecting bytes; decoded once at the end (a
    chunk may end inside a UTF-8 sequence)."""

    def __init__(self):
        self.parts = []
        self.pending = _Pending()

    def write(self, _arg, data, size):
        self.parts.append(ctypes.string_at(data, size))
        return 0

    def text(self):
        return b"".join(self.parts).decode("utf-8", "replace")


class _StyledCollector(_Collector):
    def styled(self, _arg, style, data, size):
        self.parts.append((style, ctypes.string_at(data, size)))
        return 0

    def write(self, _arg, data, size):
        self.parts.append((0, ctypes.string_at(data, size)))
        return 0

    def spans(self):
        dec = codecs.getincrementaldecoder("utf-8")("replace")
        out = []
        for style, b in self.parts:
            s = dec.decode(b)
            if not s:
                continue
            style = _enum(Style, style)
            if out and out[-1][0] == style:
                out[-1] = (style, out[-1][1] + s)
            else:
                out.append((style, s))
        tail = dec.decode(b"", final=True)
        if tail:
            out.append((Style.NONE, tail))
        return out


def _value(v):
    if v.type == 1:
        return bool(v.integer)
    if v.type == 2:
        return v.integer
    if v.type == 3:
        return v.real
    if v.type == 4:
        return _text(v.string)
    return None


class Graph(_Closing):
    """A capture of a target's asyncio graph.

    tasks: every task and future, in task-list order then the futures
    reached as awaiters (the order of every output format), each a
    FutureCallGraph; threads, cycles (tuples of nodes, each awaiting the
    next, the last the first; the first is not repeated at the end),
    warnings, target (Facts). The graph stays
    usable for render() until close() (or garbage collection).
    """

    def __init__(self, lib, ptr, waiting=False):
        self._lib = lib
        self._ptr = ptr
        self.waiting = waiting
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    def _awaiting(self, i):
        """JSON's "awaiting" of task i (a dict), or None."""
        lib, g = self._lib, self._ptr
        a = _ffi.Awaiting.new()
        _check(lib, lib.pyag_graph_awaiting(g, i, ctypes.byref(a)))
        if a.kind == 0:
            return None
        v = _ffi.Value.new()
        state = {}
        for k in range(a.num_state):
            _check(lib, lib.pyag_graph_awaiting_state(g, i, k, ctypes.byref(v)))
            state[_text(v.key)] = _value(v)
        return {"kind": _text(lib.pyag_await_kind_name(a.kind)),
                "future": "%#x" % a.future if a.future else None,
                "object": "%#x" % a.object if a.object else None,
                "type": _text(a.type), "state": state}

    def _loops(self):
        """JSON's "loops": a list of dicts."""
        lib, g = self._lib, self._ptr
        lp = _ffi.Loop.new()
        fd = _ffi.LoopFd.new()
        loops = []
        for i in range(lib.pyag_graph_num_loops(g)):
            _check(lib, lib.pyag_graph_loop(g, i, ctypes.byref(lp)))
            fds = []
            for k in range(lp.num_fds):
                _check(lib, lib.pyag_graph_loop_fd(g, i, k, ctypes.byref(fd)))
                fds.append({"fd": fd.fd, "reader": _text(fd.reader),
                            "writer": _text(fd.writer)})
            loops.append({
                "address": "%#x" % lp.address, "interpreter": lp.interpreter,
                "native_thread_id": lp.native_thread_id, "type": _text(lp.type),
                "readable": bool(lp.readable), "running": bool(lp.running),
                "closed": bool(lp.closed),
                "ready": lp.ready if lp.readable and lp.ready >= 0 else None,
                "timers": lp.timers if lp.readable and lp.timers >= 0 else None,
                "next_deadline": lp.next_deadline if lp.has_deadline else None,
                "remaining": lp.remaining if lp.has_remaining else None,
                "fds": fds, "tasks": lp.num_tasks, "can_wake": bool(lp.can_wake)})
        return loops

    def _load(self):
        lib, g = self._lib, self._ptr
        self.loops = self._loops() if self.waiting else []
        n = lib.pyag_graph_num_tasks(g)
        nodes = []
        awaiters = []
        t = _ffi.Task.new()
        fr = _ffi.Frame.new()
        addr = ctypes.c_uint64()
        idx = ctypes.c_size_t()
        for i in range(n):
            _check(lib, lib.pyag_graph_task(g, i, ctypes.byref(t)))
            is_task = t.kind == 0
            fut = Future(t.address, "task" if is_task else "future",
                         _text(t.name) if is_task else None, t.interpreter,
                         t.thread_id, t.native_thread_id, bool(t.running),
                         edges_inferred=bool(t.edges_inferred),
                         awaiting=self._awaiting(i) if self.waiting else None)
            frames = []
            for k in range(t.num_frames):
                _check(lib, lib.pyag_graph_frame(g, i, k, ctypes.byref(fr)))
                frames.append(_frame_entry(fr))
            full = tuple(frames)
            ncap = min(t.num_capture, t.num_frames)
            capture_stack = full[len(full) - ncap:] if ncap < len(full) else full
            mine = []
            for k in range(t.num_awaited_by):
                _check(lib, lib.pyag_graph_awaiter(g, i, k, ctypes.byref(addr),
                                                   ctypes.byref(idx)))
                mine.append((addr.value, idx.value))
            awaiters.append(mine)
            nodes.append(FutureCallGraph(fut, capture_stack, (), full, i))
        self._by_id = {}
        for node in nodes:
            self._by_id.setdefault(node.future.id, node)
        unreadable = {}
        for node, mine in zip(nodes, awaiters):
            refs = []
            for a, j in mine:
                if j != _ffi.NONE_INDEX and j < len(nodes):
                    refs.append(nodes[j])
                else:
                    # an awaiter that could not be read: its address only
                    if a not in unreadable:
                        unreadable[a] = FutureCallGraph(
                            Future(a, "future", readable=False))
                    refs.append(unreadable[a])
            node.awaited_by = tuple(refs)
        self.tasks = nodes

        th = _ffi.Thread.new()
        threads = []
        for i in range(lib.pyag_graph_num_threads(g)):
            _check(lib, lib.pyag_graph_thread(g, i, ctypes.byref(th)))
            running = None
            if th.running_index != _ffi.NONE_INDEX and th.running_index < len(nodes):
                running = nodes[th.running_index]
            stack = []
            for k in range(th.num_frames):
                _check(lib, lib.pyag_graph_thread_frame(g, i, k, ctypes.byref(fr)))
                stack.append(_frame_entry(fr))
            threads.append(Thread(th.interpreter, th.thread_id, th.native_thread_id,
                                  th.running_task or None, running,
                                  _text(th.name) if th.name else None,
                                  _text(th.comm) if th.comm else None,
                                  None if th.holds_gil < 0 else bool(th.holds_gil),
                                  _text(lib.pyag_thread_state_name(th.state)),
                                  th.loop or None, tuple(stack)))
        self.threads = threads

        cycles = []
        for c in range(lib.pyag_graph_num_cycles(g)):
            members = []
            for k in range(lib.pyag_graph_cycle_length(g, c)):
                j = lib.pyag_graph_cycle_task(g, c, k)
                if j != _ffi.NONE_INDEX and j < len(nodes):
                    members.append(nodes[j])
            cycles.append(tuple(members))
        self.cycles = cycles

        w = _ffi.Warning_.new()
        warnings = []
        for i in range(lib.pyag_graph_num_warnings(g)):
            _check(lib, lib.pyag_graph_warning(g, i, ctypes.byref(w)))
            warnings.append(GraphWarning(_enum(WarningCode, w.code), w.address,
                                    _text(w.message)))
        self.warnings = warnings

        facts = _ffi.Facts.new()
        _check(lib, lib.pyag_graph_facts(g, ctypes.byref(facts)))
        self.target = Facts(facts)

    # -- lifetime --
    def close(self):
        """Release the library's graph (the Python objects stay)."""
        ptr, self._ptr = self._ptr, None
        if ptr:
            self._lib.pyag_graph_destroy(ptr)

    # -- lookups --
    def find(self, task):
        """The node of a task or future: by address (int or '0x...'), by
        node or Future, or by task name (the first task of that name);
        None if there is none."""
        if isinstance(task, FutureCallGraph):
            task = task.future.id
        elif isinstance(task, Future):
            task = task.id
        if isinstance(task, str):
            if task.lower().startswith("0x"):
                try:
                    node = self._by_id.get(int(task, 16))
                except ValueError:
                    node = None
                if node is not None:
                    return node
            for node in self.tasks:
                if node.future.kind == "task" and node.future.name == task:
                    return node
            return None
        return self._by_id.get(task)

    def __iter__(self):
        return iter(self.tasks)

    def __len__(self):
        return len(self.tasks)

    # -- rendering --
    def _options(self, fmt, task, limit, thread, name, waiting=False):
        lib = self._lib
        if not self._ptr:
            raise Error("the graph is closed")
        opts = _ffi.RenderOptions.new()
        opts.format = _format(lib, fmt)
        opts.task = _ffi.NONE_INDEX
        if task is not None:
            node = self.find(task)
            if node is None or node.index is None:
                raise Error("no task or future %s in the graph" % (
                    "%#x" % task if isinstance(task, int) else repr(task),),
                    ErrorCode.NOT_FOUND)
            opts.task = node.index
        if limit is not None:
            opts.has_limit = 1
            opts.limit = int(limit)
        if thread:
            opts.native_thread_id = int(thread)
        if name is not None:
            opts.name_glob = _bytes(name)
        opts.waiting = 1 if waiting else 0
        return opts

    def render(self, format="tree", *, task=None, limit=None, thread=None,
               name=None, waiting=False):
        """The text of one of the shared formats: 'tree', 'callgraph',
        'table', 'csv', 'json', 'dot', 'threads' or 'loops'. task: one task
        (address, name or node) and what awaits it; limit:
        format_call_graph's limit on every call stack; thread (native id)
        and name (a glob): filters; waiting: what each task waits on (a
        capture with waiting=True)."""
        opts = self._options(format, task, limit, thread, name, waiting)
        col = _Collector()
        wfn = _ffi.WRITE_FN(col.write)
        _check(self._lib, self._lib.pyag_render(self._ptr, ctypes.byref(opts), wfn,
                                                None))
        return col.text()

    def render_spans(self, format="tree", *, task=None, limit=None, thread=None,
                     name=None, waiting=False):
        """Like render(), as (Style, text) spans: what the text shows
        (task names, addresses, file names, functions), for colouring."""
        opts = self._options(format, task, limit, thread, name, waiting)
        col = _StyledCollector()
        sfn = _ffi.STYLED_WRITE_FN(col.styled)
        wfn = _ffi.WRITE_FN(col.write)
        opts.styled_write = sfn
        _check(self._lib, self._lib.pyag_render(self._ptr, ctypes.byref(opts), wfn,
                                                None))
        return col.spans()

    def stats(self):
        """The --stats line of this capture."""
        if not self._ptr:
            raise Error("the graph is closed")
        col = _Collector()
        wfn = _ffi.WRITE_FN(col.write)
        _check(self._lib, self._lib.pyag_render_stats(self._ptr, wfn, None))
        return col.text()

    def to_dict(self):
        """The graph as the JSON format's document (schema 1), built from
        the graph's objects (json.dumps() of it parses like --format=json)."""
        def addr(a):
            return "%#x" % a if a else None

        def frames(stack):
            return [{"function": f.function, "filename": f.filename, "line": f.lineno,
                     "kind": f.kind} for f in stack]
        t = self.target
        doc = {
            "schema": 1,
            "target": {"kind": t.kind, "pid": t.pid, "python": t.python,
                       "hexversion": t.hexversion, "free_threaded": t.free_threaded,
                       "layout": t.layout},
            "threads": [{"interpreter": th.interpreter, "thread_id": th.thread_id,
                         "native_thread_id": th.native_thread_id,
                         "running_task": addr(th.running_task_id),
                         "name": th.name, "comm": th.comm, "holds_gil": th.holds_gil,
                         "state": th.state, "loop": addr(th.loop),
                         "stack": frames(th.stack)}
                        for th in self.threads],
            "tasks": [{"id": addr(n.future.id), "kind": n.future.kind,
                       "name": n.future.name, "interpreter": n.future.interpreter,
                       "native_thread_id": n.future.native_thread_id,
                       "running": n.future.running,
                       "call_stack": frames(n.call_stack),
                       "awaited_by": [addr(a.future.id) for a in n.awaited_by],
                       "awaited_by_inferred": [addr(a.future.id) for a in n.awaited_by]
                       if n.future.edges_inferred else []}
                      for n in self.tasks],
            # the JSON format closes each cycle: its first task again at the end
            "cycles": [[addr(n.future.id) for n in c + c[:1]] for c in self.cycles],
        }
        if self.waiting:
            for task, n in zip(doc["tasks"], self.tasks):
                task["awaiting"] = n.future.awaiting
            doc["loops"] = self.loops
        doc["warnings"] = [w.message for w in self.warnings]
        return doc

    def __repr__(self):
        return "<pyag.Graph %s pid %s: %d tasks/futures, %d threads>" % (
            self.target.kind, self.target.pid, len(self.tasks), len(self.threads))


def _format(lib, fmt):
    if isinstance(fmt, str):
        ret = ctypes.c_int()
        _check(lib, lib.pyag_format_parse(_bytes(fmt), ctypes.byref(ret)))
        return ret.value
    return int(fmt)


def format_call_graph(graph, task, *, limit=None):
    """asyncio.format_call_graph(task, limit=limit) as it would have been
    returned inside the process, for a task or future of graph (its
    address, node or name)."""
    text = graph.render(Format.CALLGRAPH, task=task, limit=limit)
    return text[:-1] if text.endswith("\n") else text


def print_call_graph(graph, task, *, file=None, limit=None):
    """Print format_call_graph(graph, task) (asyncio.print_call_graph)."""
    print(format_call_graph(graph, task, limit=limit),
          file=sys.stdout if file is None else file)


# ---- the command layer -----------------------------------------------------------

CommandResult = collections.namedtuple("CommandResult", "status output messages")
CommandResult.__doc__ = (
    "What run_command() returns: status (0, or 1 when the graph has warnings "
    "or cycles), output (the text, when no write callback was given) and "
    "messages (when no message callback was given).")


def run_command(session, argv, *, write=None, styled_write=None, message=None,
                selected_thread=0, default_format=None, default_limit=None,
                use_cache=False):
    """Run the shared command line `[OPTIONS] [TASK]` (argv, without the
    command's name) on session (None: only --help works).

    write(text): the output, as it is produced; styled_write(style, text):
    the same with its styles (used instead of write when given);
    message(Message): warnings and the --stats line. Without write and
    styled_write the output is collected in the result, without message the
    messages are. selected_thread: the native thread id selected in a
    debugger, for --current. default_format / default_limit: what applies
    when argv gives no --format / --limit (a debugger's settings).
    use_cache: look DWARF layouts up in default_cache_dir().
    Errors raise Error; an exception raised by a callback stops the command
    and is raised again.
    """
    lib = _lib()
    pending = _Pending()
    collected = []
    messages = []
    out_dec = codecs.getincrementaldecoder("utf-8")("replace")

    def guard(fn):
        def call(*a):
            if pending.exc is not None:
                return -1
            try:
                fn(*a)
            except BaseException as e:
                pending.keep(e)
                return -1
            return 0
        return call

    def do_write(_arg, data, size):
        text = out_dec.decode(ctypes.string_at(data, size))
        if write is None and styled_write is None:
            collected.append(text)
        elif text:
            if styled_write is not None:
                styled_write(Style.NONE, text)
            else:
                write(text)

    def do_styled(_arg, style, data, size):
        # one decoder for the whole stream: a multi-byte character cut
        # between two calls comes out with the second
        text = out_dec.decode(ctypes.string_at(data, size))
        if text:
            styled_write(_enum(Style, style), text)

    def do_message(_arg, msg):
        m = msg.contents
        item = Message(_enum(MessageKind, m.kind), _enum(WarningCode, m.code)
                       if m.code else 0, m.address, _text(m.text) or "")
        if message is None:
            messages.append(item)
        else:
            message(item)

    def message_cb(_arg, msg):
        if pending.exc is not None:
            return
        try:
            do_message(_arg, msg)
        except BaseException as e:
            pending.keep(e)

    opts = _ffi.CommandOptions.new()
    wfn = _ffi.WRITE_FN(guard(do_write))
    opts.write = wfn
    sfn = None
    if styled_write is not None:
        sfn = _ffi.STYLED_WRITE_FN(guard(do_styled))
        opts.styled_write = sfn
    mfn = _ffi.MESSAGE_FN(message_cb)
    opts.message = mfn
    opts.selected_native_thread_id = int(selected_thread or 0)
    fmt = _bytes(default_format)
    opts.default_format = fmt
    if default_limit is not None:
        opts.has_default_limit = 1
        opts.default_limit = int(default_limit)
    opts.use_cache = 1 if use_cache else 0
    args = [_bytes(a) for a in argv]
    arr = (ctypes.c_char_p * (len(args) + 1))(*args)
    status = ctypes.c_int(0)
    handle = session._handle if session is not None else None
    keep = (wfn, sfn, mfn, fmt, args, arr)  # alive during the call
    err = lib.pyag_command_run(handle, len(args), arr, ctypes.byref(opts),
                               ctypes.byref(status))
    del keep
    if session is not None:
        exc = session._pending.exc
        if exc is not None:
            pending.keep(exc)
            session._pending.exc = None
    if pending.exc is not None:
        if err:
            lib.pyag_error_destroy(err)
        pending.reraise()
    _check(lib, err)
    tail = out_dec.decode(b"", final=True)
    if tail:
        if write is None and styled_write is None:
            collected.append(tail)
        elif styled_write is not None:
            styled_write(Style.NONE, tail)
        else:
            write(tail)
    return CommandResult(status.value, "".join(collected), messages)
