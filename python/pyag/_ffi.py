"""ctypes declarations of libpyag's public interface (include/pyag.h).

Only what pyag.h declares is used. Every struct that the header gives a
size field gets size = ctypes.sizeof(struct) before it is handed to the
library, so that a library built from a newer header reads or fills only
the bytes this module knows about.
"""

import ctypes
import os
import sys
import threading

# The interface version this module was written against (PYAG_API_VERSION).
API_VERSION = 4

# Replaced at install time by the path of the installed library.
_INSTALLED_LIBRARY = "@PYAG_INSTALLED_LIBRARY@"

c_size_t = ctypes.c_size_t
c_int = ctypes.c_int
c_uint = ctypes.c_uint
c_long = ctypes.c_long
c_int32 = ctypes.c_int32
c_int64 = ctypes.c_int64
c_uint64 = ctypes.c_uint64
c_char_p = ctypes.c_char_p
c_void_p = ctypes.c_void_p
c_double = ctypes.c_double
c_enum = ctypes.c_int  # the header's enums all fit an int

NONE_INDEX = (1 << (8 * ctypes.sizeof(c_size_t))) - 1  # PYAG_NONE

# ---- callback types ----------------------------------------------------------

READ_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_uint64, c_void_p, c_size_t)
SYMBOL_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_char_p, ctypes.POINTER(c_uint64))
TRACE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p, c_uint64, c_size_t, c_int)
# data is declared as a pointer, not c_char_p: it is not NUL-terminated
WRITE_FN = ctypes.CFUNCTYPE(c_int, c_void_p, ctypes.POINTER(ctypes.c_char), c_size_t)
STYLED_WRITE_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_enum,
                                   ctypes.POINTER(ctypes.c_char), c_size_t)


# ---- structs -----------------------------------------------------------------

class Sized(ctypes.Structure):
    """A struct whose first member is its size: new() sets it."""

    @classmethod
    def new(cls, **fields):
        s = cls()
        s.size = ctypes.sizeof(cls)
        for k, v in fields.items():
            setattr(s, k, v)
        return s


class Mapping(ctypes.Structure):
    _fields_ = [("start", c_uint64), ("end", c_uint64), ("offset", c_uint64),
                ("path", c_char_p)]


class Callbacks(Sized):
    _fields_ = [("size", c_size_t), ("kind", c_enum), ("pid", c_int),
                ("read", READ_FN), ("read_arg", c_void_p)]


class Thread(Sized):
    _fields_ = [("size", c_size_t), ("interpreter", c_int64),
                ("thread_id", c_uint64), ("native_thread_id", c_uint64),
                ("running_task", c_uint64), ("running_index", c_size_t),
                ("name", c_char_p), ("comm", c_char_p), ("holds_gil", c_int),
                ("state", c_enum), ("loop", c_uint64), ("num_frames", c_size_t)]


class Task(Sized):
    _fields_ = [("size", c_size_t), ("address", c_uint64), ("kind", c_enum),
                ("name", c_char_p), ("interpreter", c_int64),
                ("native_thread_id", c_uint64), ("thread_id", c_uint64),
                ("running", c_int), ("num_frames", c_size_t),
                ("num_awaited_by", c_size_t), ("num_capture", c_size_t),
                ("edges_inferred", c_int)]


class Frame(Sized):
    _fields_ = [("size", c_size_t), ("function", c_char_p), ("filename", c_char_p),
                ("line", c_int32), ("kind", c_enum)]


class Warning_(Sized):
    _fields_ = [("size", c_size_t), ("code", c_enum), ("address", c_uint64),
                ("message", c_char_p)]


class Facts(Sized):
    _fields_ = [("size", c_size_t), ("kind", c_enum), ("pid", c_int),
                ("hexversion", c_uint64), ("python", c_char_p),
                ("free_threaded", c_int), ("layout", c_char_p),
                ("runtime_found", c_char_p), ("debug_files", c_char_p),
                ("bytes_read", c_uint64), ("read_calls", c_uint64),
                ("attempts", c_uint), ("elapsed_ms", c_double),
                ("warnings_dropped", c_size_t)]


class RenderOptions(Sized):
    _fields_ = [("size", c_size_t), ("format", c_enum), ("has_limit", c_int),
                ("limit", c_long), ("task", c_size_t),
                ("native_thread_id", c_uint64), ("name_glob", c_char_p),
                ("styled_write", STYLED_WRITE_FN), ("styled_arg", c_void_p),
                ("waiting", c_int)]


class Awaiting(Sized):
    _fields_ = [("size", c_size_t), ("kind", c_enum), ("future", c_uint64),
                ("object", c_uint64), ("type", c_char_p), ("num_state", c_size_t)]


class Value(Sized):
    _fields_ = [("size", c_size_t), ("key", c_char_p), ("type", c_enum),
                ("integer", c_int64), ("real", c_double), ("string", c_char_p)]


class Loop(Sized):
    _fields_ = [("size", c_size_t), ("address", c_uint64), ("interpreter", c_int64),
                ("native_thread_id", c_uint64), ("type", c_char_p),
                ("readable", c_int), ("running", c_int), ("closed", c_int),
                ("ready", c_long), ("timers", c_long), ("has_deadline", c_int),
                ("next_deadline", c_double), ("has_remaining", c_int),
                ("remaining", c_double), ("num_tasks", c_size_t),
                ("num_fds", c_size_t), ("can_wake", c_int)]


class LoopFd(Sized):
    _fields_ = [("size", c_size_t), ("fd", c_int), ("reader", c_char_p),
                ("writer", c_char_p)]


class Message(Sized):
    _fields_ = [("size", c_size_t), ("kind", c_enum), ("code", c_enum),
                ("address", c_uint64), ("text", c_char_p)]


MESSAGE_FN = ctypes.CFUNCTYPE(None, c_void_p, ctypes.POINTER(Message))


class CommandOptions(Sized):
    _fields_ = [("size", c_size_t), ("selected_native_thread_id", c_uint64),
                ("default_format", c_char_p), ("has_default_limit", c_int),
                ("default_limit", c_long),
                ("write", WRITE_FN), ("write_arg", c_void_p),
                ("styled_write", STYLED_WRITE_FN), ("styled_arg", c_void_p),
                ("message", MESSAGE_FN), ("message_arg", c_void_p),
                ("use_cache", c_int)]


# Every struct with a size field, by its C name (the tests compare these
# sizes with sizeof() in C).
STRUCTS = {
    "pyag_callbacks": Callbacks,
    "pyag_thread": Thread,
    "pyag_task": Task,
    "pyag_frame": Frame,
    "pyag_warning": Warning_,
    "pyag_facts": Facts,
    "pyag_render_options": RenderOptions,
    "pyag_message": Message,
    "pyag_command_options": CommandOptions,
    "pyag_mapping": Mapping,
    "pyag_awaiting": Awaiting,
    "pyag_value": Value,
    "pyag_loop": Loop,
    "pyag_loop_fd": LoopFd,
}

# ---- functions ----------------------------------------------------------------

_ERR = c_void_p  # struct pyag_error *
_P = ctypes.POINTER
_SESSION = c_void_p
_GRAPH = c_void_p

_PROTOTYPES = {
    "pyag_version": (c_char_p, []),
    "pyag_api_version": (c_int, []),
    "pyag_error_code": (c_enum, [_ERR]),
    "pyag_error_message": (c_char_p, [_ERR]),
    "pyag_error_address": (c_uint64, [_ERR]),
    "pyag_error_destroy": (None, [_ERR]),
    "pyag_session_create_pid": (_ERR, [c_int, _P(_SESSION)]),
    "pyag_session_create_core": (_ERR, [c_char_p, c_char_p, c_char_p, _P(_SESSION)]),
    "pyag_session_create_callbacks": (_ERR, [_P(Callbacks), _P(_SESSION)]),
    "pyag_session_destroy": (None, [_SESSION]),
    "pyag_session_set_layout": (_ERR, [_SESSION, c_enum]),
    "pyag_session_add_debug_dir": (_ERR, [_SESSION, c_char_p]),
    "pyag_session_set_sysroot": (_ERR, [_SESSION, c_char_p]),
    "pyag_session_set_stop": (_ERR, [_SESSION, c_int]),
    "pyag_session_set_waiting": (_ERR, [_SESSION, c_int]),
    "pyag_await_kind_name": (c_char_p, [c_enum]),
    "pyag_graph_awaiting": (_ERR, [_GRAPH, c_size_t, _P(Awaiting)]),
    "pyag_graph_awaiting_state": (_ERR, [_GRAPH, c_size_t, c_size_t, _P(Value)]),
    "pyag_graph_num_loops": (c_size_t, [_GRAPH]),
    "pyag_graph_loop": (_ERR, [_GRAPH, c_size_t, _P(Loop)]),
    "pyag_graph_loop_fd": (_ERR, [_GRAPH, c_size_t, c_size_t, _P(LoopFd)]),
    "pyag_session_set_cache_dir": (_ERR, [_SESSION, c_char_p]),
    "pyag_default_cache_dir": (c_char_p, []),
    "pyag_session_set_symbol_fn": (_ERR, [_SESSION, SYMBOL_FN, c_void_p]),
    "pyag_session_set_mappings": (_ERR, [_SESSION, _P(Mapping), c_size_t]),
    "pyag_session_set_trace": (_ERR, [_SESSION, TRACE_FN, c_void_p]),
    "pyag_session_set_limit": (_ERR, [_SESSION, c_enum, c_uint64]),
    "pyag_session_read": (_ERR, [_SESSION, c_uint64, c_void_p, c_size_t]),
    "pyag_capture": (_ERR, [_SESSION, _P(_GRAPH)]),
    "pyag_graph_destroy": (None, [_GRAPH]),
    "pyag_graph_num_threads": (c_size_t, [_GRAPH]),
    "pyag_graph_num_tasks": (c_size_t, [_GRAPH]),
    "pyag_graph_thread": (_ERR, [_GRAPH, c_size_t, _P(Thread)]),
    "pyag_graph_task": (_ERR, [_GRAPH, c_size_t, _P(Task)]),
    "pyag_graph_frame": (_ERR, [_GRAPH, c_size_t, c_size_t, _P(Frame)]),
    "pyag_graph_thread_frame": (_ERR, [_GRAPH, c_size_t, c_size_t, _P(Frame)]),
    "pyag_thread_state_name": (c_char_p, [c_enum]),
    "pyag_graph_awaiter": (_ERR, [_GRAPH, c_size_t, c_size_t, _P(c_uint64),
                                  _P(c_size_t)]),
    "pyag_graph_find": (c_size_t, [_GRAPH, c_uint64]),
    "pyag_graph_num_cycles": (c_size_t, [_GRAPH]),
    "pyag_graph_cycle_length": (c_size_t, [_GRAPH, c_size_t]),
    "pyag_graph_cycle_task": (c_size_t, [_GRAPH, c_size_t, c_size_t]),
    "pyag_graph_num_warnings": (c_size_t, [_GRAPH]),
    "pyag_graph_warning": (_ERR, [_GRAPH, c_size_t, _P(Warning_)]),
    "pyag_graph_facts": (_ERR, [_GRAPH, _P(Facts)]),
    "pyag_render": (_ERR, [_GRAPH, _P(RenderOptions), WRITE_FN, c_void_p]),
    "pyag_render_stats": (_ERR, [_GRAPH, WRITE_FN, c_void_p]),
    "pyag_format_parse": (_ERR, [c_char_p, _P(c_enum)]),
    "pyag_command_run": (_ERR, [_SESSION, c_int, _P(c_char_p), _P(CommandOptions),
                                _P(c_int)]),
    "pyag_command_usage": (c_char_p, []),
}


# ---- loading ------------------------------------------------------------------

class LoadError(OSError):
    pass


_lock = threading.Lock()
_loaded = {"lib": None, "path": None}


def library_candidates():
    """Where libpyag is looked for, in order."""
    env = os.environ.get("PYAG_LIBRARY")
    if env:
        yield env
    if not _INSTALLED_LIBRARY.startswith("@"):
        yield _INSTALLED_LIBRARY
    here = os.path.dirname(os.path.abspath(__file__))
    # the source tree (python/pyag/) of an in-tree build; an installed
    # binding in PREFIX/lib/python3/dist-packages/pyag next to PREFIX/lib
    for rel in ("../../.libs/libpyag.so", "../../../../libpyag.so.2"):
        path = os.path.normpath(os.path.join(here, rel))
        if os.path.exists(path):
            yield path
    yield "libpyag.so.2"


def _in_debugger():
    return "gdb" in sys.modules or "lldb" in sys.modules


def load(path=None, deepbind=None):
    """Load libpyag once per process and return the ctypes handle.

    path: the library to load (default: $PYAG_LIBRARY, the installed
    library, the build tree, then the dynamic linker's search path).
    deepbind: bind the library to its own dependencies first
    (RTLD_DEEPBIND). Debuggers need it: gdb links elfutils' libdw, whose
    functions share their names with libdwarf's. Default: on inside gdb
    or lldb.
    """
    with _lock:
        if _loaded["lib"] is not None:
            return _loaded["lib"]
        if deepbind is None:
            deepbind = _in_debugger()
        mode = ctypes.RTLD_LOCAL | getattr(os, "RTLD_NOW", 2)
        if deepbind:
            mode |= getattr(os, "RTLD_DEEPBIND", 0)
        errors = []
        for cand in ([path] if path else library_candidates()):
            try:
                lib = ctypes.CDLL(cand, mode=mode)
            except OSError as e:
                errors.append(str(e))
                continue
            try:
                _declare(lib)
            except AttributeError as e:
                errors.append("%s: %s (not libpyag API %d)" % (cand, e, API_VERSION))
                continue
            api = lib.pyag_api_version()
            if api != API_VERSION:
                errors.append("%s implements libpyag API %d; this binding needs %d"
                              % (cand, api, API_VERSION))
                continue
            _loaded["lib"] = lib
            _loaded["path"] = cand
            return lib
        if len(errors) > 3:
            errors = errors[:1] + errors[-2:]
        raise LoadError("cannot load libpyag (set PYAG_LIBRARY to its path): "
                        + "; ".join(errors))


def loaded_path():
    return _loaded["path"]


def _declare(lib):
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
