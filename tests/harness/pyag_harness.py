"""Run py-async-graph's scenario programs (tests/scenarios) and read their
oracles.

Works on the host (the target interpreters are in the sid root filesystem,
reached with chroot) and inside that root filesystem (run directly).
Standard library only; Python >= 3.11.

    with Scenario("gather", python="3.14", root=root_path()) as s:
        s.pid, s.oracle, s.out_dir

    root=None: run directly (we are inside the root filesystem).
    root=PATH: run `chroot PATH /usr/bin/python3.X`; the scenarios are
    copied under PATH/var/tmp and every path given to the program is the
    path as seen inside the root.  Pids are the same on both sides.

    python= is a spec (see parse_python): "3.14" is Debian's python3.14 of
    the root filesystem (or of this system inside it), "pyenv:3.12" a pyenv
    build of this machine, "host:3.11" this machine's /usr/bin/python3.11;
    the last two never run in the root filesystem.

Also here: the other targets the tests read (gcores of live processes,
kernel cores, the committed cores of corefiles/) and the TAP output the
test programs write.
"""

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
SCENARIOS_DIR = os.path.join(TOP_SRCDIR, "tests", "scenarios")
COREFILES_DIR = os.path.join(TOP_SRCDIR, "corefiles")
DEFAULT_ROOT = "/var/cache/py-async-graph/sid-root"
# the versions py-async-graph reads today (and CPython's ps/pstree exist for)
PYTHONS = ("3.14", "3.15")
# older versions: scenarios run there with the rebuilt graph as oracle
LEGACY_PYTHONS = ("3.11", "3.12", "3.13")
# what a scenario supports when it does not say (VERSIONS)
ALL_VERSIONS = LEGACY_PYTHONS + PYTHONS
# the interpreters the legacy oracle runs on: pyenv builds of this machine
# and Debian's 3.13 of the root filesystem
LEGACY_SPECS = ("pyenv:3.11", "pyenv:3.12", "pyenv:3.13", "3.13")
DEFAULT_TIMEOUT = 60.0

_VERSIONS_RE = re.compile(r"^VERSIONS\s*=\s*[\(\[]([^\)\]]*)[\)\]]", re.M)


# ---------------------------------------------------------------------------
# where the interpreters are

def root_path():
    """The sid root filesystem: $PYAG_ROOT, default DEFAULT_ROOT."""
    return os.environ.get("PYAG_ROOT") or DEFAULT_ROOT


def inside_root():
    """True when the target interpreters are installed here, i.e. we run
    inside the root filesystem (or on a system that has them)."""
    return any(os.path.exists("/usr/bin/python" + v) for v in PYTHONS)


def default_root():
    """None inside the root filesystem, else root_path()."""
    return None if inside_root() else root_path()


def unavailable_reason(python=None):
    """Why scenarios cannot run here (a sentence), or None if they can.
    python: a spec (parse_python); default: Debian's PYTHONS."""
    if python and parse_python(python).kind != "debian":
        p = parse_python(python)
        if python_available(python):
            return None
        if p.kind == "pyenv":
            return "no pyenv build of Python %s under %s/versions" % (
                p.name, pyenv_root())
        return "no /usr/bin/python%s here" % p.name
    if python:
        python = parse_python(python).name
    versions = [python] if python else list(PYTHONS)
    if inside_root():
        missing = [v for v in versions if not os.path.exists("/usr/bin/python" + v)]
        if len(missing) == len(versions):
            return "no /usr/bin/python%s here" % " or python".join(missing)
        return None
    root = root_path()
    if not os.path.isdir(root):
        return "no root filesystem at %s (set PYAG_ROOT)" % root
    if not any(os.path.exists(os.path.join(root, "usr/bin/python" + v)) for v in versions):
        return "no python%s in %s" % (" or python".join(versions), root)
    if not os.path.exists(os.path.join(root, "proc/self/maps")):
        return "%s/proc is not mounted" % root
    if os.geteuid() != 0:
        return "chroot into %s needs root" % root
    return None


def available(python=None):
    return unavailable_reason(python) is None


def python_available(python, root=None):
    """Is the interpreter of this spec there (Debian's: /usr/bin/python3.X,
    in root when given)?"""
    exe = python_executable(python, root)
    return exe is not None and os.path.exists(exe)


# ---------------------------------------------------------------------------
# python specs: which interpreter, and where it runs

PythonSpec = collections.namedtuple("PythonSpec", "kind name version")

_SPEC_RE = re.compile(r"^(?:(debian|pyenv|host):)?((\d+)\.(\d+)[0-9a-z.]*)$")


def parse_python(spec):
    """A python spec as a PythonSpec(kind, name, version):

      "3.14", "3.14d", "debian:3.13"  kind "debian": /usr/bin/python<name>
                 of the root filesystem (run with chroot from the host, or
                 directly inside the root);
      "pyenv:3.12", "pyenv:3.12.1"    kind "pyenv": the newest pyenv build
                 $(pyenv root)/versions/<name>* of this machine, run here;
      "host:3.11"                     kind "host": this machine's own
                 /usr/bin/python<name>, run here, never in the root.

    version is the minor version ("3.12"), what VERSIONS lists."""
    m = _SPEC_RE.match(spec or "")
    if not m:
        raise ValueError("bad python spec %r: expected 3.X, pyenv:3.X[.Y] or "
                         "host:3.X" % (spec,))
    return PythonSpec(m.group(1) or "debian", m.group(2),
                      "%s.%s" % (m.group(3), m.group(4)))


def python_version(spec):
    """The minor version of a spec: "pyenv:3.12.1" -> "3.12"."""
    return parse_python(spec).version


def pyenv_root():
    """$PYENV_ROOT, else `pyenv root`, else ~/.pyenv."""
    root = os.environ.get("PYENV_ROOT")
    if root:
        return root
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run([pyenv, "root"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
            if out:
                return out
        except (OSError, subprocess.SubprocessError):
            pass
    return os.path.expanduser("~/.pyenv")


def _pyenv_build(name):
    """The newest $(pyenv root)/versions/<name>[.N] directory, or None."""
    versions = os.path.join(pyenv_root(), "versions")
    try:
        dirs = os.listdir(versions)
    except OSError:
        return None
    found = []
    for d in dirs:
        if d == name or d.startswith(name + "."):
            rest = d[len(name):].lstrip(".")
            if rest == "" or rest.isdigit():
                found.append((int(rest or 0), d))
    return os.path.join(versions, max(found)[1]) if found else None


def python_root(spec, root=None):
    """The root filesystem a spec's interpreter runs in: root for Debian's
    interpreters, None (this system) for pyenv and host ones."""
    return root if parse_python(spec).kind == "debian" else None


def python_executable(spec, root=None, inner=False):
    """The interpreter of a spec as a path seen from here (inner=True: as
    seen by the program, inside its root filesystem); None when a pyenv
    build of that version is missing."""
    p = parse_python(spec)
    if p.kind == "pyenv":
        build = _pyenv_build(p.name)
        return os.path.join(build, "bin", "python" + p.version) if build else None
    exe = "/usr/bin/python" + p.name
    if p.kind == "debian" and root and not inner:
        return root + exe
    return exe


SUBINTERPRETER_PROBE = """\
from concurrent import interpreters
interpreters.create().exec("import asyncio; asyncio.run(asyncio.sleep(0))")
"""


def subinterpreters_unavailable(python, root=None):
    """Why python3.X cannot run asyncio in a subinterpreter
    (concurrent.interpreters), or None when it can."""
    p = run_in_root(["/usr/bin/python" + python, "-c", SUBINTERPRETER_PROBE], root,
                    timeout=60)
    if p.returncode == 0:
        return None
    err = p.stderr.decode("utf-8", "replace").strip().splitlines()
    return "python%s cannot run asyncio in a subinterpreter: %s" % (
        python, err[-1] if err else "exit %d" % p.returncode)


# ---------------------------------------------------------------------------
# scenarios

def scenario_versions(name):
    """The Python versions a scenario supports: its module-level
    VERSIONS = ("3.14", ...) tuple, read without importing it; default
    ALL_VERSIONS."""
    path = os.path.join(SCENARIOS_DIR, name + ".py")
    with open(path, encoding="utf-8") as f:
        m = _VERSIONS_RE.search(f.read())
    if not m:
        return ALL_VERSIONS
    return tuple(re.findall(r"""["']([0-9.]+)["']""", m.group(1)))


def list_scenarios(python=None):
    """Names of the scenarios (file names without .py) that support
    `python` (a spec: "3.14", "pyenv:3.12"...), sorted; all of them if
    python is None."""
    version = python_version(python) if python is not None else None
    names = []
    for fn in sorted(os.listdir(SCENARIOS_DIR)):
        if not fn.endswith(".py") or fn.startswith("_"):
            continue
        name = fn[:-3]
        if version is None or version in scenario_versions(name):
            names.append(name)
    return names


def run_in_root(argv, root=None, timeout=600, **kwargs):
    """subprocess.run(argv) inside the root filesystem (chroot ROOT argv)
    or directly when root is None.  Output is captured (bytes) unless the
    caller says otherwise."""
    if root:
        argv = ["chroot", root] + list(argv)
    if "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs.setdefault("capture_output", True)
    return subprocess.run(argv, timeout=timeout, **kwargs)


class ScenarioError(RuntimeError):
    pass


class Scenario:
    """A running scenario: a context manager.

    On entry: copies tests/scenarios to a fresh temporary directory (under
    ROOT/var/tmp when root is given), starts `python3.X NAME.py --out DIR`
    in its own process group and waits (timeout seconds) for DIR/ready.
    Raises ScenarioError, with the scenario's log, if it exits early, times
    out or writes no oracle.
    Attributes: pid, oracle (the parsed oracle.json), threads (the parsed
    threads.json of a scenario that writes one, else None), waiting (the
    parsed waiting.json, likewise), out_dir (as seen
    from here), inner_out_dir (as seen by the scenario), log_path, python
    (the spec), version ("3.12"), executable (the interpreter, as seen from
    here), root (the root filesystem it runs in: None for pyenv and host
    specs, whatever root was given), name.
    env: more environment variables for the program (e.g. PYAG_ORACLE).
    On exit (also on exceptions and KeyboardInterrupt): kills the process
    group and removes the temporary directory.
    """

    def __init__(self, name, python="3.14", root=None, timeout=DEFAULT_TIMEOUT,
                 keep=False, env=None):
        self.name = name
        self.python = python
        self.version = python_version(python)
        self.root = python_root(python, root)
        self.executable = python_executable(python, self.root)
        self.timeout = timeout
        self.keep = keep
        self.env = dict(env or {})
        self.proc = None
        self.pid = None
        self.oracle = None
        self.threads = None
        self.waiting = None
        self.tmp = None
        self.out_dir = None
        self.inner_out_dir = None
        self.log_path = None

    # paths ----------------------------------------------------------------
    def _inner(self, path):
        """path as seen by the scenario."""
        if not self.root:
            return path
        root = os.path.abspath(self.root)
        return "/" + os.path.relpath(path, root)

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # lifecycle ------------------------------------------------------------
    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _start(self):
        if not os.path.exists(os.path.join(SCENARIOS_DIR, self.name + ".py")):
            raise ScenarioError("no scenario %r in %s" % (self.name, SCENARIOS_DIR))
        if not python_available(self.python, self.root):
            raise ScenarioError("no python %s (%s)%s" % (
                self.python, self.executable or "not installed",
                " in " + self.root if self.root else ""))
        base = os.path.join(self.root, "var", "tmp") if self.root else None
        self.tmp = tempfile.mkdtemp(prefix="pyag-%s-%s-" % (
            self.name, self.python.replace(":", "-")), dir=base)
        os.chmod(self.tmp, 0o755)
        scen_dir = os.path.join(self.tmp, "scenarios")
        shutil.copytree(SCENARIOS_DIR, scen_dir,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.out_dir = os.path.join(self.tmp, "out")
        os.mkdir(self.out_dir)
        self.inner_out_dir = self._inner(self.out_dir)
        self.log_path = os.path.join(self.out_dir, "log")
        argv = [python_executable(self.python, self.root, inner=True),
                self._inner(os.path.join(scen_dir, self.name + ".py")),
                "--out", self.inner_out_dir]
        if self.root:
            argv = ["chroot", self.root] + argv
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
                   LC_ALL="C.UTF-8")
        for k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONASYNCIODEBUG",
                  "PYTHONDEVMODE", "PYTHONTRACEMALLOC", "PYAG_ORACLE"):
            env.pop(k, None)
        env.update(self.env)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True, cwd="/")
        self.pid = self.proc.pid
        ready = os.path.join(self.out_dir, "ready")
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(ready):
            rc = self.proc.poll()
            if rc is not None:
                raise ScenarioError("scenario %s (python%s) exited with status %s "
                                    "before ready; log:\n%s" % (
                                        self.name, self.python, rc, self.log()))
            if time.monotonic() > deadline:
                raise ScenarioError("scenario %s (python%s) not ready after %gs; "
                                    "log:\n%s" % (self.name, self.python,
                                                  self.timeout, self.log()))
            time.sleep(0.02)
        try:
            with open(os.path.join(self.out_dir, "oracle.json"), encoding="utf-8") as f:
                self.oracle = json.load(f)
        except (OSError, ValueError) as e:
            raise ScenarioError("scenario %s (python%s): bad oracle.json: %s; "
                                "log:\n%s" % (self.name, self.python, e, self.log()))
        if self.oracle.get("pid") != self.pid:
            raise ScenarioError("scenario %s: oracle pid %s is not the process "
                                "%s" % (self.name, self.oracle.get("pid"), self.pid))
        path = os.path.join(self.out_dir, "waiting.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.waiting = json.load(f)
        path = os.path.join(self.out_dir, "threads.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.threads = json.load(f)
            self.wait_parked(deadline=max(deadline, time.monotonic() + 10))

    def wait_parked(self, timeout=10.0, deadline=None):
        """With a thread truth (threads.json): wait until the process is
        parked as it says; a no-op for other scenarios.  Each thread that
        runs a loop must be in an epoll system call, each other thread but
        the CPU-bound one asleep, and no other thread there.

        Needed after `ready` (the main thread writes it from a callback of
        its loop and only then goes back to its selector) and after every
        read that stops the process: a stop and resume makes epoll_wait
        fail with EINTR (signal(7)), and the loop's thread then takes the
        GIL to check for signals, from the CPU-bound thread, which gives it
        up only after the switch interval: for a few milliseconds that
        thread's state is not the parked one (its stack is)."""
        if self.threads is None:
            return
        if deadline is None:
            deadline = time.monotonic() + timeout
        want = {t["native_thread_id"]: t for t in self.threads["threads"]}
        epoll = {"232", "281", "441"}   # epoll_wait, epoll_pwait, epoll_pwait2 (x86-64)
        task = "/proc/%d/task" % self.pid
        while True:
            why = None
            try:
                tids = {int(t) for t in os.listdir(task)}
                if tids != set(want):
                    why = "threads %r, threads.json %r" % (sorted(tids), sorted(want))
                for tid, t in sorted(want.items()):
                    if why or t.get("cpu_bound"):
                        continue
                    with open("%s/%d/stat" % (task, tid)) as f:
                        state = f.read().rpartition(")")[2].split()[0]
                    if state != "S":
                        why = "thread %d is in state %s" % (tid, state)
                    elif t.get("loop"):
                        with open("%s/%d/syscall" % (task, tid)) as f:
                            nr = f.read().split()[0]
                        if nr not in epoll:
                            why = "thread %d runs a loop, in system call %s" % (tid, nr)
            except OSError as e:
                why = str(e)
            if why is None:
                return
            if time.monotonic() > deadline:
                raise ScenarioError("scenario %s (python%s) did not park as threads.json "
                                    "says: %s" % (self.name, self.python, why))
            time.sleep(0.005)

    def close(self):
        """Kill the process group, reap it, remove the temporary directory."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        tmp, self.tmp = self.tmp, None
        if tmp and not self.keep:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# cores

def find_gdb():
    """gdb: $GDB (configure says "no" when it found none), else on PATH."""
    gdb = os.environ.get("GDB")
    if gdb and gdb != "no":
        return gdb
    return shutil.which("gdb")


def make_core(pid, directory, root=None, exe=None):
    """gcore the live process (it keeps running) as DIRECTORY/core; None
    without gdb or when gcore failed.  root, exe: the target's root
    filesystem and executable (as seen from here).

    A target in a root filesystem that has its own gdb is dumped by that
    gdb, from inside the root.  Measured: glibc 2.42 (sid) on Linux 6.13+
    puts an unreadable guard region at the bottom of every thread stack,
    and bookworm's gdb 13 gcore, which reads a segment in one piece, then
    writes the whole 8 MB segment as zeros: the core loses every stack but
    the main thread's (the Python frames on them survive, the C-stack
    frames that link them do not).  gdb 18 writes them."""
    prefix = os.path.join(directory, "core")
    inner_gdb = os.path.join(root, "usr/bin/gdb") if root else None
    real_root = os.path.realpath(root) + os.sep if root else None
    if (inner_gdb and os.path.exists(inner_gdb)
            and os.path.realpath(prefix).startswith(real_root)):
        inner = os.path.realpath(prefix)[len(real_root) - 1:]
        argv = ["/usr/bin/gdb", "-q", "-nx", "-batch", "-iex", "set debuginfod enabled off",
                "-p", str(pid), "-ex", "gcore " + inner]
        run_in_root(argv, root, timeout=600)
        return prefix if os.path.exists(prefix) else None
    gdb = find_gdb()
    if not gdb:
        return None
    argv = [gdb, "-q", "-nx", "-batch", "-iex", "set debuginfod enabled off"]
    if root:
        argv += ["-iex", "set sysroot " + root]
    if exe:
        argv.append(exe)
    argv += ["-p", str(pid), "-ex", "gcore " + prefix]
    subprocess.run(argv, capture_output=True, timeout=600)
    return prefix if os.path.exists(prefix) else None


def core_lost_pages(core, pid, limit=10):
    """Pages of a (parked) live process that its core holds as zeros but
    the process does not: [(address, mapping start)], at most limit.
    Unreadable pages (guard regions) are not asked.

    A check of make_core(): gdb 13 (bookworm) writes a whole mapping as
    zeros when one page of it cannot be read, and glibc 2.42 (sid) makes
    the guard pages of thread stacks with MADV_GUARD_INSTALL, inside the
    one rw-p mapping of the stacks: such a core has none of the threads'
    C stacks, where CPython 3.14 keeps the entry frames that link a
    thread's Python frames across C calls."""
    import struct
    lost = []
    with open(core, "rb") as f, open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            raise ValueError("%s is not a 64-bit ELF core" % core)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
        for i in range(phnum):
            p_type, p_flags, off, vaddr, _, filesz, memsz, _ = struct.unpack_from(
                "<IIQQQQQQ", table, i * phentsize)
            if p_type != 1 or not p_flags & 2 or filesz == 0:   # PT_LOAD, PF_W
                continue
            f.seek(off)
            for pos in range(0, filesz, 1 << 20):
                chunk = f.read(min(1 << 20, filesz - pos))
                if chunk.count(0) != len(chunk):
                    # only the zero pages of a chunk with data are asked
                    zero = [k for k in range(0, len(chunk), 4096)
                            if not chunk[k:k + 4096].strip(b"\0")]
                else:
                    zero = range(0, len(chunk), 4096)
                for k in zero:
                    addr = vaddr + pos + k
                    try:
                        mem.seek(addr)
                        live = mem.read(4096)
                    except OSError:
                        continue            # a guard page: nothing lost
                    if live.strip(b"\0"):
                        lost.append((addr, vaddr))
                        if len(lost) >= limit:
                            return lost
    return lost


KernelCore = collections.namedtuple("KernelCore", "core oracle")


def kernel_core(python, root, directory):
    """Run tests/integration/abort_task.py (it aborts inside a running task)
    in DIRECTORY (under root); a KernelCore: core (the path as seen from
    here, None when the kernel wrote none) and oracle."""
    src = os.path.join(TOP_SRCDIR, "tests", "integration", "abort_task.py")
    shutil.copy(src, directory)
    inner = directory[len(root):] if root else directory
    run_in_root(["/usr/bin/python" + python, os.path.join(inner, "abort_task.py"), inner],
                root, timeout=120)
    core = os.path.join(directory, "core")
    with open(os.path.join(directory, "oracle.json"), encoding="utf-8") as f:
        oracle = json.load(f)
    return KernelCore(core if os.path.exists(core) else None, oracle)


def committed_cores():
    """The directories of corefiles/ that hold a core, sorted."""
    return sorted(os.path.join(COREFILES_DIR, d) for d in os.listdir(COREFILES_DIR)
                  if os.path.exists(os.path.join(COREFILES_DIR, d, "core.xz")))


CommittedCore = collections.namedtuple("CommittedCore", "core sysroot")

# What a --trace-reads log says was read: mem, [(start, end)] of the
# target's memory; files, {path: [(start, end)]} of the files read besides
# (paths as the target names them); each list sorted, its ranges merged.
Reads = collections.namedtuple("Reads", "mem files")


def _merged(ranges):
    out = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [tuple(r) for r in out]


def read_trace(path):
    """The reads that succeeded in a --trace-reads log (lines `mem ADDR
    SIZE ok`, `file PATH OFFSET SIZE ok`; also a corefile's reads.txt),
    as Reads."""
    mem, files = [], {}
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4 or parts[-1] != "ok":
                continue
            if parts[0] == "mem":
                start = int(parts[1], 16)
                mem.append((start, start + int(parts[2])))
            elif parts[0] == "file" and len(parts) >= 5:
                off = int(parts[-3], 16)
                files.setdefault(" ".join(parts[1:-3]), []).append(
                    (off, off + int(parts[-2])))
    return Reads(_merged(mem), {p: _merged(r) for p, r in files.items()})


def write_trace(reads, path):
    """Reads as a --trace-reads log that read_trace() reads back."""
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        for a, b in reads.mem:
            f.write("mem 0x%x %d ok\n" % (a, b - a))
        for p in sorted(reads.files):
            for a, b in reads.files[p]:
                f.write("file %s 0x%x %d ok\n" % (p, a, b - a))


def reads_outside(reads, kept):
    """The ranges of Reads `reads` that Reads `kept` does not hold whole,
    as text."""
    import bisect

    def outside(ranges, held):
        starts = [a for a, _ in held]
        for a, b in ranges:
            i = bisect.bisect_right(starts, a) - 1
            if i < 0 or held[i][1] < b:
                yield a, b
    out = ["mem 0x%x-0x%x" % r for r in outside(reads.mem, kept.mem)]
    for p, ranges in sorted(reads.files.items()):
        out += ["file %s 0x%x-0x%x" % ((p,) + r)
                for r in outside(ranges, kept.files.get(p, []))]
    return out


def extract_corefile(directory, tmp):
    """Unpack a committed core and its file skeleton into tmp (with the
    standard library only: no xz tool needed); a CommittedCore: core,
    sysroot."""
    import lzma
    import tarfile
    core = os.path.join(tmp, "core")
    with lzma.open(os.path.join(directory, "core.xz")) as fin, open(core, "wb") as f:
        shutil.copyfileobj(fin, f)
    skel = os.path.join(tmp, "sysroot")
    os.makedirs(skel)
    with tarfile.open(os.path.join(directory, "sysroot.tar.xz")) as tar:
        for member in tar.getmembers():
            # our own archives: plain files and directories, relative paths
            if member.name.startswith("/") or ".." in member.name.split("/"):
                raise ValueError("unexpected path in %s: %s" % (directory, member.name))
        tar.extractall(skel)
    return CommittedCore(core, skel)


def link_debug_file(python, root, directory):
    """Link the interpreter's debug file (found by its build id under
    ROOT/usr/lib/debug/.build-id) into DIRECTORY/.build-id, the layout of
    a debug-file directory; the link's path, or None when there is no
    debug file."""
    exe = os.path.realpath((root or "") + "/usr/bin/python" + python)
    notes = subprocess.run(["readelf", "-n", exe], capture_output=True, text=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", notes)
    if not m:
        return None
    rel = os.path.join(m.group(1)[:2], m.group(1)[2:] + ".debug")
    real = os.path.join((root or "") + "/usr/lib/debug/.build-id", rel)
    if not os.path.exists(real):
        return None
    linked = os.path.join(directory, ".build-id", rel)
    os.makedirs(os.path.dirname(linked))
    os.symlink(real, linked)
    return linked


# ---------------------------------------------------------------------------
# TAP

class Tap:
    """Test Anything Protocol output: one line a check, the plan last."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, desc))
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines()[:60]:
                    print("# " + line)
        sys.stdout.flush()
        return cond

    def todo(self, cond, desc, why, diag=None):
        """A check of a known bug (`why`): an expected failure while it
        fails (XFAIL), an unexpected pass once it is fixed (XPASS, which
        fails the test run: then make it a plain check)."""
        self.n += 1
        print("%s %d - %s # TODO %s" % ("ok" if cond else "not ok", self.n, desc, why))
        if not cond and diag:
            for line in str(diag).splitlines()[:20]:
                print("# " + line)
        sys.stdout.flush()
        return cond

    def skip(self, desc, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc, why))
        sys.stdout.flush()

    def diag(self, text):
        for line in text.splitlines():
            print("# " + line)
        sys.stdout.flush()

    def done(self):
        print("1..%d" % self.n)


# ---------------------------------------------------------------------------
# CPython's own external tool

def parse_ps_table(text):
    """Rows of `python3.X -m asyncio ps` output: list of
    (tid, task_id, rest_of_line); header and dash line skipped."""
    rows = []
    lines = text.splitlines()
    start = 0
    for i, line in enumerate(lines):
        if line.startswith("-" * 20):
            start = i + 1
            break
    else:
        return rows
    for line in lines[start:]:
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[1].startswith("0x"):
            rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return rows


def asyncio_ps(pid, python, root=None, timeout=120):
    """Run `python3.X -m asyncio ps PID` (inside the root); returns the
    CompletedProcess with text stdout/stderr."""
    p = run_in_root(["/usr/bin/python" + python, "-m", "asyncio", "ps", str(pid)],
                    root, timeout=timeout, env=dict(os.environ, LC_ALL="C.UTF-8"))
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    return p


if __name__ == "__main__":
    # python3 pyag_harness.py [PYTHON]: list the scenarios
    print("\n".join(list_scenarios(sys.argv[1] if len(sys.argv) > 1 else None)))
