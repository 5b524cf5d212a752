"""py-async-graph for gdb: print the asyncio call graph of the inferior.

Load with ``source /path/to/py_async_graph.py`` (or install it in gdb's data
directory). The command is a thin front end over libpyag, called through
its Python binding (the ``pyag`` module): options, decoding and formatting
all live in the library, so gdb, lldb and the command-line tool print the
same bytes.
"""

import os
import re
import sys

import gdb

# Replaced at install time by the directory the pyag module is installed in.
_INSTALLED_PYTHONDIR = "@PYAG_INSTALLED_PYTHONDIR@"


def _import_pyag():
    """The pyag binding: the installed one, else the one of the source tree
    this script is in (python/ next to gdb/)."""
    if "pyag" in sys.modules:
        return sys.modules["pyag"]
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = []
    if not _INSTALLED_PYTHONDIR.startswith("@"):
        dirs.append(_INSTALLED_PYTHONDIR)
    dirs.append(os.path.normpath(os.path.join(here, "..", "python")))
    for d in dirs:
        if os.path.isfile(os.path.join(d, "pyag", "__init__.py")):
            sys.path.insert(0, d)
            try:
                import pyag
            finally:
                sys.path.remove(d)
            return pyag
    import pyag  # anywhere on sys.path
    return pyag


def _load():
    try:
        pyag = _import_pyag()
    except ImportError as e:
        return None, "cannot import the pyag module (%s)" % e
    try:
        # gdb links elfutils' libdw, whose functions share their names with
        # libdwarf's (dwarf_attr, dwarf_diename...): bind libpyag and its
        # dependencies to their own symbols first.
        pyag.load_library(deepbind=True)
    except pyag.Error as e:
        return None, e.message
    return pyag, None


pyag, _LIB_ERROR = _load()


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


def _executable():
    try:
        path = gdb.current_progspace().filename
    except (gdb.error, RuntimeError, AttributeError):
        return None
    return path if path and os.path.isfile(path) else None


def _debug_dirs():
    """gdb's own debug-file directories, for DWARF layouts."""
    try:
        dirs = gdb.parameter("debug-file-directory") or ""
    except RuntimeError:
        dirs = ""
    return [d for d in dirs.split(":") if d]


def _read_memory(inferior):
    def read(address, size):
        try:
            return bytes(inferior.read_memory(address, size))
        except (gdb.MemoryError, gdb.error, OverflowError, ValueError):
            return None
    return read


def _lookup_symbol(name):
    try:
        sym = gdb.lookup_global_symbol(name) or gdb.lookup_static_symbol(name)
        if sym is not None:
            value = int(sym.value().address)
        else:
            value = int(gdb.parse_and_eval("(unsigned long)&'%s'" % name))
    except (gdb.error, RuntimeError, ValueError):
        return None
    return value or None


def _session(inferior):
    """A libpyag session for the inferior: a native live process is read
    directly (gdb holds it stopped already), a core file opened by path,
    anything else (remote targets, a core whose file is gone) through
    gdb's memory."""
    kind = _connection_type(inferior)
    sysroot = _sysroot()
    if kind == "core":
        core = _core_file_path()
        if core and os.path.exists(core):
            # gdb's executable, for a core whose recorded interpreter path
            # is gone (without a sysroot: that path would be prefixed)
            exe = None if sysroot else _executable()
            s = pyag.Session(core=core, exe=exe, sysroot=sysroot)
            sysroot = None
        else:
            s = pyag.Session(read=_read_memory(inferior), kind="core", pid=inferior.pid)
    elif kind == "native":
        s = pyag.Session(inferior.pid)
        s.set_stop(False)
    else:
        # remote or other targets: only gdb can read the memory
        s = pyag.Session(read=_read_memory(inferior), kind="live", pid=inferior.pid)
    try:
        if sysroot:
            s.set_sysroot(sysroot)
        s.set_symbol_lookup(_lookup_symbol)
        for d in _debug_dirs():
            s.add_debug_dir(d)
    except BaseException:
        s.close()
        raise
    return s


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
                          ("tree", "callgraph", "table", "csv", "json", "dot", "threads", "loops")]
        else:
            candidates = ["--format=", "--limit=", "--current", "--thread=",
                          "--name=", "--task=", "--stats", "--waiting", "--layout=", "--help"]
            if token.startswith("--layout="):
                candidates = ["--layout=" + v for v in ("auto", "offsets", "dwarf")]
        cut = len(token) - len(word)
        return [c[cut:] for c in candidates if c.startswith(token)]

    def invoke(self, argument, from_tty):
        self.dont_repeat()
        if pyag is None:
            raise gdb.GdbError("py-async-graph: " + _LIB_ERROR)
        argv = gdb.string_to_argv(argument)
        inferior = gdb.selected_inferior()
        no_target = (inferior is None or inferior.pid == 0 and
                     _connection_type(inferior) != "core")
        messages = []
        session = None
        try:
            if not no_target:
                session = _session(inferior)
            thread = gdb.selected_thread()
            selected = (thread.ptid[1] or thread.ptid[0]) if thread is not None else 0
            kwargs = {}
            if _styling_on():
                kwargs["styled_write"] = _styled_writer()
            else:
                kwargs["write"] = gdb.write
            pyag.run_command(session, argv, message=messages.append,
                             selected_thread=selected,
                             default_format=_FORMAT_PARAM.value,
                             default_limit=_LIMIT_PARAM.value,
                             use_cache=True, **kwargs)
        except pyag.Error as e:
            _write_messages(messages)
            if session is None and e.code == pyag.ErrorCode.USAGE:
                # without a target only --help works
                raise gdb.GdbError("py-async-graph: no process: attach to a "
                                   "Python process or load a core file first")
            raise gdb.GdbError("py-async-graph: " + e.message)
        finally:
            if session is not None:
                session.close()
        _write_messages(messages)


def _write_messages(messages):
    for m in messages:
        if m.kind == pyag.MessageKind.STATS:
            gdb.write(m.text + "\n", gdb.STDERR)
        else:
            gdb.write("warning: " + m.text + "\n", gdb.STDERR)


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


# libpyag's styles of output spans -> gdb's style names
_GDB_STYLES = {"TASK_NAME": "variable", "ADDRESS": "address",
               "FILENAME": "filename", "FUNCTION": "function"}


def _styled_writer():
    """A styled-write callback: each span in the escape of its gdb style."""
    escapes = {}
    for name, gdb_style in _GDB_STYLES.items():
        escapes[pyag.Style[name]] = _style_escape(gdb_style)

    def write(style, text):
        esc = escapes.get(style)
        gdb.write(esc + text + "\x1b[m" if esc else text)
    return write


def _help_text():
    head = ("Print the asyncio call graph of the inferior (a live Python 3.11+ "
            "process or a core).\n"
            "Usage: py-async-graph [OPTIONS] [TASK]\n\n"
            "Examples:\n"
            "  py-async-graph                       the tree of all tasks\n"
            "  py-async-graph --format=callgraph    format_call_graph() of every task\n"
            "  py-async-graph 0x7ffff7a1b2c0        one task and who awaits it\n"
            "  py-async-graph --current             the running task of this thread\n"
            "  py-async-graph --format=threads      every thread: state, Python stack, tasks\n"
            "  py-async-graph --waiting             what each task waits on (lock, queue...)\n"
            "  py-async-graph --format=loops        every event loop: timers, fds, deadlock?\n\n"
            "Settings (used when the option is not given):\n"
            "  set py-async-graph format FORMAT     tree, callgraph, table, csv, json, dot, threads, loops\n"
            "  set py-async-graph limit N|unlimited\n\n")
    if pyag is not None:
        return head + pyag.command_usage()
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
                         ["tree", "callgraph", "table", "csv", "json", "dot", "threads", "loops"])
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
