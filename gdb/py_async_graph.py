"""py-async-graph for gdb: print the asyncio call graph of the inferior.

Load with ``source /path/to/py_async_graph.py`` (or install it in gdb's data
directory). The command is a thin front end over libpyag: options, decoding
and formatting all live in the library, so gdb, lldb and the command-line
tool print the same bytes.
"""

import ctypes
import os
import re

import gdb

# Replaced at install time by the path of the installed library.
_INSTALLED_LIBRARY = "@PYAG_INSTALLED_LIBRARY@"

_READ_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64,
                            ctypes.c_void_p, ctypes.c_size_t)
_SYMBOL_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                              ctypes.POINTER(ctypes.c_uint64))

PYAG_TARGET_LIVE = 0
PYAG_TARGET_CORE = 1


class _Mapping(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64),
                ("offset", ctypes.c_uint64), ("path", ctypes.c_char_p)]


class _Host(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int),
        ("pid", ctypes.c_int),
        ("core_path", ctypes.c_char_p),
        ("exe_path", ctypes.c_char_p),
        ("sysroot", ctypes.c_char_p),
        ("read", _READ_FN),
        ("read_arg", ctypes.c_void_p),
        ("symbol", _SYMBOL_FN),
        ("symbol_arg", ctypes.c_void_p),
        ("mappings", ctypes.POINTER(_Mapping)),
        ("num_mappings", ctypes.c_size_t),
        ("selected_native_thread_id", ctypes.c_uint64),
        ("command_name", ctypes.c_char_p),
        ("trace", ctypes.c_void_p),
        ("trace_arg", ctypes.c_void_p),
        ("stop_threads", ctypes.c_int),
    ]


class _Result(ctypes.Structure):
    _fields_ = [("output", ctypes.c_char_p), ("diagnostics", ctypes.c_char_p),
                ("status", ctypes.c_int)]


def _library_candidates():
    env = os.environ.get("PYAG_LIBRARY")
    if env:
        yield env
    if not _INSTALLED_LIBRARY.startswith("@"):
        yield _INSTALLED_LIBRARY
    here = os.path.dirname(os.path.abspath(__file__))
    for rel in (".libs/libpyag.so", "../.libs/libpyag.so",
                "../../../lib/libpyag.so.1"):
        yield os.path.normpath(os.path.join(here, rel))
    yield "libpyag.so.1"


def _load_library():
    errors = []
    # gdb links elfutils' libdw, whose functions share their names with
    # libdwarf's (dwarf_attr, dwarf_diename...): bind libpyag and its
    # dependencies to their own symbols first.
    mode = ctypes.RTLD_LOCAL | getattr(os, "RTLD_DEEPBIND", 0) | getattr(os, "RTLD_NOW", 2)
    for path in _library_candidates():
        try:
            lib = ctypes.CDLL(path, mode=mode)
        except OSError as e:
            errors.append(str(e))
            continue
        lib.pyag_command.restype = ctypes.c_void_p
        lib.pyag_command.argtypes = [ctypes.POINTER(_Host), ctypes.c_int,
                                     ctypes.POINTER(ctypes.c_char_p),
                                     ctypes.POINTER(_Result)]
        lib.pyag_error_message.restype = ctypes.c_char_p
        lib.pyag_error_message.argtypes = [ctypes.c_void_p]
        lib.pyag_error_destroy.argtypes = [ctypes.c_void_p]
        lib.pyag_result_deinit.argtypes = [ctypes.POINTER(_Result)]
        lib.pyag_usage.restype = ctypes.c_char_p
        return lib, None
    return None, ("cannot load libpyag (set PYAG_LIBRARY to its path): "
                  + "; ".join(errors[-2:]))


_LIB, _LIB_ERROR = _load_library()


def _connection_type(inferior):
    conn = getattr(inferior, "connection", None)
    if conn is not None:
        return conn.type
    # gdb < 11: no connection objects; ask "info target".
    info = gdb.execute("info target", to_string=True)
    if "core dump file" in info:
        return "core"
    return "native"


def _core_file_path():
    info = gdb.execute("info target", to_string=True)
    m = re.search(r"Local core dump file:\s*`([^']+)'", info)
    return m.group(1) if m else None


def _sysroot():
    try:
        value = gdb.parameter("sysroot")
    except RuntimeError:
        return None
    if not value or value.startswith("target:") or value == "/":
        return None
    return value


class _Session:
    """What one invocation needs to keep alive while the library runs."""

    def __init__(self, inferior):
        self.inferior = inferior
        self.read_cb = _READ_FN(self._read)
        self.symbol_cb = _SYMBOL_FN(self._symbol)

    def _read(self, _arg, address, buf, size):
        try:
            mem = self.inferior.read_memory(address, size)
        except (gdb.MemoryError, gdb.error, OverflowError, ValueError):
            return -1
        ctypes.memmove(buf, bytes(mem), size)
        return 0

    @staticmethod
    def _symbol(_arg, name, address_ret):
        name = name.decode()
        try:
            sym = gdb.lookup_global_symbol(name) or gdb.lookup_static_symbol(name)
            if sym is not None:
                value = int(sym.value().address)
            else:
                value = int(gdb.parse_and_eval("(unsigned long)&'%s'" % name))
        except (gdb.error, RuntimeError, ValueError):
            return -1
        if not value:
            return -1
        address_ret[0] = value
        return 0


class PyAsyncGraph(gdb.Command):
    def __init__(self):
        super().__init__("py-async-graph", gdb.COMMAND_STACK)

    def complete(self, text, word):
        # gdb breaks words at '-' and '=': complete the whole option being
        # typed, then hand back only the part after gdb's word
        token = text.split(" ")[-1] if text else ""
        word = word or ""
        m = re.fullmatch(r"--format=(\w*)", token)
        if m:
            candidates = ["--format=" + f for f in
                          ("tree", "callgraph", "table", "csv", "json", "dot")]
        else:
            candidates = ["--format=", "--limit=", "--current", "--thread=",
                          "--name=", "--task=", "--stats", "--layout=", "--help"]
            if token.startswith("--layout="):
                candidates = ["--layout=" + v for v in ("auto", "offsets", "dwarf")]
        cut = len(token) - len(word)
        return [c[cut:] for c in candidates if c.startswith(token)]

    def invoke(self, argument, from_tty):
        self.dont_repeat()
        if _LIB is None:
            raise gdb.GdbError("py-async-graph: " + _LIB_ERROR)
        argv = gdb.string_to_argv(argument)
        # gdb's own debug-file directories, for DWARF layouts
        try:
            dirs = gdb.parameter("debug-file-directory") or ""
        except RuntimeError:
            dirs = ""
        argv = ["--debug-file-directory=" + d for d in dirs.split(":") if d] + argv
        # settings apply where the command line says nothing
        if not any(a.startswith("--format") for a in argv):
            argv.insert(0, "--format=" + _FORMAT_PARAM.value)
        if _LIMIT_PARAM.value is not None and not any(a.startswith("--limit") for a in argv):
            argv.insert(0, "--limit=%d" % _LIMIT_PARAM.value)
        wants_help = any(a in ("-h", "--help") for a in argv)
        inferior = gdb.selected_inferior()
        if not wants_help and (inferior is None or inferior.pid == 0 and
                               _connection_type(inferior) != "core"):
            raise gdb.GdbError("py-async-graph: no process: attach to a Python "
                               "process or load a core file first")
        session = _Session(inferior)
        host = _Host()
        host.command_name = b"py-async-graph"
        host.symbol = session.symbol_cb
        kind = _connection_type(inferior) if not wants_help else "native"
        sysroot = _sysroot()
        if sysroot:
            host.sysroot = sysroot.encode()
        if kind == "core":
            host.kind = PYAG_TARGET_CORE
            host.pid = inferior.pid
            core = _core_file_path()
            if core and os.path.exists(core):
                host.core_path = core.encode()
            else:
                host.read = session.read_cb
        else:
            host.kind = PYAG_TARGET_LIVE
            host.pid = inferior.pid
            if kind != "native":
                # remote or other targets: only gdb can read the memory
                host.read = session.read_cb
        thread = gdb.selected_thread()
        if thread is not None:
            host.selected_native_thread_id = thread.ptid[1] or thread.ptid[0]
        args = (ctypes.c_char_p * (len(argv) + 1))()
        for i, a in enumerate(argv):
            args[i] = a.encode()
        result = _Result()
        err = _LIB.pyag_command(ctypes.byref(host), len(argv), args,
                                ctypes.byref(result))
        if err:
            message = _LIB.pyag_error_message(err).decode("utf-8", "replace")
            _LIB.pyag_error_destroy(err)
            raise gdb.GdbError("py-async-graph: " + message)
        try:
            out = result.output.decode("utf-8", "replace")
            diag = result.diagnostics.decode("utf-8", "replace")
        finally:
            _LIB.pyag_result_deinit(ctypes.byref(result))
        fmt = _output_format(argv)
        if fmt in _STYLERS and _styling_on():
            out = _STYLERS[fmt](out)
        gdb.write(out)
        if diag:
            gdb.write(diag, gdb.STDERR)


# ---- styling: gdb's colours for file names, functions, task names and ids,
# when gdb styles its own output (style enabled, and a terminal) ----------

_ANSI_COLOURS = {"black": 0, "red": 1, "green": 2, "yellow": 3, "blue": 4,
                 "magenta": 5, "cyan": 6, "white": 7}


def _styling_on():
    force = os.environ.get("PYAG_GDB_STYLE")
    if force in ("never", "always"):
        return force == "always"
    try:
        if not gdb.parameter("style enabled"):
            return False
    except RuntimeError:
        return False
    return os.isatty(1) and os.environ.get("TERM", "dumb") != "dumb"


def _style_escape(name):
    """The escape that starts gdb's style NAME (filename, function, ...)."""
    codes = []
    try:
        fg = str(gdb.parameter("style %s foreground" % name) or "none")
        intensity = str(gdb.parameter("style %s intensity" % name) or "normal")
    except RuntimeError:
        return ""
    if fg in _ANSI_COLOURS:
        codes.append(str(30 + _ANSI_COLOURS[fg]))
    elif fg.isdigit():
        codes.append("38;5;" + fg)
    elif re.fullmatch(r"#[0-9a-fA-F]{6}", fg):
        codes.append("38;2;%d;%d;%d" % tuple(int(fg[i:i + 2], 16) for i in (1, 3, 5)))
    if intensity == "bold":
        codes.append("1")
    elif intensity == "dim":
        codes.append("2")
    return "\x1b[%sm" % ";".join(codes) if codes else ""


def _styler(pattern, styles):
    """Style the groups of pattern (a multi-line regex) with gdb's styles."""
    regex = re.compile(pattern, re.M)

    def apply(text):
        escapes = [_style_escape(name) for name in styles]

        def one(m):
            out, last = [], m.start()
            for i, esc in enumerate(escapes, 1):
                if m.group(i) is None:
                    continue
                out.append(text[last:m.start(i)])
                out.append(esc + m.group(i) + "\x1b[m" if esc else m.group(i))
                last = m.end(i)
            out.append(text[last:m.end()])
            return "".join(out)
        return regex.sub(one, text)
    return apply


_STYLERS = {
    # * Task(name='Task-1', id=0x7f...)   |   File '/x.py', line 3, in main()
    "callgraph": _styler(r"Task\(name='(.*)', id=(0x[0-9a-f]+)\)$|"
                         r"File '(.*)', line \d+, in (.+)\(\)$",
                         ["variable", "address", "filename", "function"]),
    # └── (T) Task-1        └──  main /x.py:3
    "tree": _styler(r"\(T\) (.+)$|[─ ]  (\S+) (.+):\d+$",
                    ["variable", "function", "filename"]),
}


def _output_format(argv):
    fmt = _FORMAT_PARAM.value
    for i, a in enumerate(argv):
        if a.startswith("--format="):
            fmt = a[len("--format="):]
        elif a == "--format" and i + 1 < len(argv):
            fmt = argv[i + 1]
    return fmt


def _help_text():
    head = ("Print the asyncio call graph of the inferior (a live Python 3.14+ "
            "process or a core).\n"
            "Usage: py-async-graph [OPTIONS] [TASK]\n\n"
            "Examples:\n"
            "  py-async-graph                       the tree of all tasks\n"
            "  py-async-graph --format=callgraph    format_call_graph() of every task\n"
            "  py-async-graph 0x7ffff7a1b2c0        one task and who awaits it\n"
            "  py-async-graph --current             the running task of this thread\n\n"
            "Settings (used when the option is not given):\n"
            "  set py-async-graph format FORMAT     tree, callgraph, table, csv, json, dot\n"
            "  set py-async-graph limit N|unlimited\n\n")
    if _LIB is not None:
        return head + _LIB.pyag_usage().decode()
    return head + "(libpyag is not loaded: " + _LIB_ERROR + ")"


class _SetPrefix(gdb.Command):
    """Settings of the py-async-graph command."""

    def __init__(self, verb):
        super().__init__(verb + " py-async-graph", gdb.COMMAND_DATA, gdb.COMPLETE_NONE,
                         True)


class _FormatParameter(gdb.Parameter):
    """The output format when py-async-graph is given no --format."""
    set_doc = "Set the default output format of py-async-graph."
    show_doc = "Show the default output format of py-async-graph."

    def __init__(self):
        super().__init__("py-async-graph format", gdb.COMMAND_DATA, gdb.PARAM_ENUM,
                         ["tree", "callgraph", "table", "csv", "json", "dot"])
        self.value = "tree"

    def get_show_string(self, value):
        return "The default py-async-graph format is %s." % value


class _LimitParameter(gdb.Parameter):
    """The --limit used when py-async-graph is given none (unlimited: none)."""
    set_doc = "Set the default call stack limit of py-async-graph."
    show_doc = "Show the default call stack limit of py-async-graph."

    def __init__(self):
        super().__init__("py-async-graph limit", gdb.COMMAND_DATA,
                         gdb.PARAM_ZUINTEGER_UNLIMITED)
        self.value = -1

    def get_show_string(self, value):
        return "The default py-async-graph call stack limit is %s." % value


class _Value:
    """A parameter's value with 'unlimited' as None."""

    def __init__(self, param):
        self.param = param

    @property
    def value(self):
        v = self.param.value
        return None if v is None or v == -1 else v


PyAsyncGraph.__doc__ = _help_text()
PyAsyncGraph()
_SetPrefix("set")
_SetPrefix("show")
_FORMAT_PARAM = _FormatParameter()
_LIMIT_PARAM = _Value(_LimitParameter())
