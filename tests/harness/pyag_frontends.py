"""The front ends under test, with one interface, and the scenario runner
that checks any of them against the in-process oracle.

    Cli    the py-async-graph command
    Gdb    the gdb command (gdb/py_async_graph.py; gdb on PATH or $GDB)
    Lldb   the lldb plugin's `async graph` (lldb on PATH or $LLDB)

    fe = FRONT_ENDS["lldb"](root=H.default_root())
    outs = fe.outputs("3.14", fe.ask(oracle), pid=pid)   # or core=PATH
    outs.callgraph, outs.json, outs.current[tid], outs.tasks

Every result is named: Outputs (what a front end printed for one target),
CliRun (one run of the command), Session (one debugger session).
Environment: top_builddir (set by make check; default the source tree),
GDB, LLDB.
"""

import collections
import os
import re
import shutil
import subprocess
import tempfile

import pyag_harness as H
import pyag_oracle as O

TOP_SRCDIR = H.TOP_SRCDIR
TOP_BUILDDIR = os.environ.get("top_builddir") or TOP_SRCDIR
CLI = os.path.join(TOP_BUILDDIR, "py-async-graph")
LIBRARY = os.path.join(TOP_BUILDDIR, ".libs", "libpyag.so")
GDB_SCRIPT = os.path.join(TOP_SRCDIR, "gdb", "py_async_graph.py")
LLDB_PLUGIN = os.path.join(TOP_BUILDDIR, "lldb", ".libs", "libpyag_lldb.so")

FORMATS = ("callgraph", "json", "table", "tree", "dot")

# What to ask a front end for, for one target: formats (names from
# FORMATS), current (thread ids for --current), main_thread (the id of the
# thread a debugger selects by itself), tasks ((argument, oracle task) for
# the TASK argument: the task's address or its name).
Ask = collections.namedtuple("Ask", "formats current main_thread tasks")

# What it printed: each format's text (None when not asked for), current
# {thread id: text}, tasks [(argument, oracle task, text)], and its stderr.
Outputs = collections.namedtuple("Outputs", FORMATS + ("current", "tasks", "stderr"))

CliRun = collections.namedtuple("CliRun", "stdout stderr returncode")

# A debugger session: outputs [what each command printed, None for a
# command that did not run], all of stdout and stderr, the exit status.
Session = collections.namedtuple("Session", "outputs stdout stderr returncode")

# One way of reading the target: label suffix, environment, with TASK
# arguments or not.
Variant = collections.namedtuple("Variant", "suffix env tasks")


def check_session(kind, commands, session):
    """Raise RuntimeError unless every command of a session ran."""
    missing = [c for c, text in zip(commands, session.outputs) if text is None]
    if missing:
        raise RuntimeError("%s did not run: %s\n%s\n%s" % (
            kind, "; ".join(missing[:5]), O.tail(session.stdout, 2000),
            O.tail(session.stderr, 2000)))
    return session


class FrontEnd:
    """One front end; root: the target's root filesystem (None: this one)."""

    kind = None
    formats = FORMATS   # asked for from every target

    def __init__(self, root=None):
        self.root = root

    def exe(self, python):
        """The interpreter's executable, as seen from here (a spec: "3.14",
        "pyenv:3.12")."""
        return H.python_executable(python, self.root)

    def unavailable_reason(self):
        """Why this front end cannot run here, or None."""
        return None

    def pick(self, oracle):
        """The TASK arguments to check: [(argument, oracle task)]."""
        return []

    def variants(self, name):
        """The ways of reading scenario `name`'s targets."""
        return [Variant("", None, True)]

    def ask(self, oracle, formats=None, tasks=True, current=True):
        return Ask(tuple(self.formats if formats is None else formats),
                   O.current_threads(oracle) if current else [],
                   str(oracle.get("pid")), self.pick(oracle) if tasks else [])

    def current_args(self, tid, main_thread):
        return ["--current", "--format=callgraph", "--thread=%s" % tid]

    def run_requests(self, python, requests, pid=None, core=None, env=None):
        """Run each request (a list of arguments); ([text], stderr).  Raises
        RuntimeError when one did not run."""
        raise NotImplementedError

    def outputs(self, python, ask, pid=None, core=None, env=None):
        """The Outputs of one live process (pid) or core.  Raises
        RuntimeError when the front end did not print them all."""
        requests = [["--format=" + f] for f in ask.formats]
        requests += [self.current_args(tid, ask.main_thread) for tid in ask.current]
        requests += [["--format=callgraph", arg] for arg, _ in ask.tasks]
        texts, stderr = self.run_requests(python, requests, pid=pid, core=core, env=env)
        texts = iter(texts)
        by_format = {f: next(texts) for f in ask.formats}
        current = {tid: next(texts) for tid in ask.current}
        tasks = [(arg, t, next(texts)) for arg, t in ask.tasks]
        return Outputs(*(by_format.get(f) for f in FORMATS), current=current,
                       tasks=tasks, stderr=stderr)


# ---------------------------------------------------------------------------
# the command

class Cli(FrontEnd):
    kind = "cli"

    def pick(self, oracle):
        """A few tasks and every future by address, a task by name."""
        tasks = [t for t in O.oracle_tasks(oracle) if not t.get("running")]
        picks = [t for t in tasks if t["kind"] == "task"][:3]
        picks += [t for t in tasks if t["kind"] == "future"]
        return ([(t["id"], t) for t in picks] +
                [(t["name"], t) for t in O.pick_names(oracle, 1)])

    def cli(self, args, pid=None, core=None, check=True, env=None):
        """Run py-async-graph ARGS PID (or --core CORE); a CliRun.  check:
        raise RuntimeError when it fails."""
        cmd = [CLI] + list(args)
        if core:
            cmd += ["--core", core]
            if self.root:
                cmd += ["--sysroot", self.root]
        else:
            cmd.append(str(pid))
        p = subprocess.run(cmd, capture_output=True, timeout=600,
                           env=dict(os.environ, **env) if env else None)
        run = CliRun(p.stdout.decode("utf-8", "replace"),
                     p.stderr.decode("utf-8", "replace"), p.returncode)
        if check and run.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), run.returncode,
                                                     run.stderr))
        return run

    def run_requests(self, python, requests, pid=None, core=None, env=None):
        runs = [self.cli(r, pid=pid, core=core, env=env) for r in requests]
        return [r.stdout for r in runs], "".join(r.stderr for r in runs)


# ---------------------------------------------------------------------------
# gdb

class Gdb(FrontEnd):
    kind = "gdb"

    def unavailable_reason(self):
        return None if H.find_gdb() else "gdb not found"

    def session(self, python, commands, pid=None, core=None, env=None, check=True):
        """Run gdb in batch mode; a Session whose outputs are the texts
        between markers.  check: raise RuntimeError unless all ran."""
        exe = self.exe(python)
        cmd = [H.find_gdb(), "-q", "-nx", "-batch",
               "-iex", "set debuginfod enabled off",
               "-iex", "set auto-load safe-path /",
               "-iex", "set pagination off", "-iex", "set width 0"]
        if self.root:
            cmd += ["-iex", "set sysroot " + self.root,
                    "-iex", "set debug-file-directory %s/usr/lib/debug" % self.root]
        cmd += ["-ex", "source " + GDB_SCRIPT]
        for i, c in enumerate(commands):
            cmd += ["-ex", "echo \\n@@PYAG %d@@\\n" % i, "-ex", c]
        cmd += ["-ex", "echo \\n@@PYAG END@@\\n"]
        cmd += [exe, core] if core else [exe, "-p", str(pid)]
        # no layout cache: every run parses DWARF inside gdb (whose own
        # libdw has libdwarf's function names)
        env = dict(os.environ, PYAG_LIBRARY=LIBRARY, PYAG_NO_CACHE="1", **(env or {}))
        p = subprocess.run(cmd, capture_output=True, timeout=600, env=env)
        out = p.stdout.decode("utf-8", "replace")
        parts = re.split(r"\n@@PYAG (\d+|END)@@\n", out)
        by_index = {}
        for k in range(1, len(parts) - 1, 2):
            if parts[k] != "END":
                by_index[int(parts[k])] = parts[k + 1]
        s = Session([by_index.get(i) for i in range(len(commands))], out,
                    p.stderr.decode("utf-8", "replace"), p.returncode)
        return check_session("gdb", commands, s) if check else s

    def run_requests(self, python, requests, pid=None, core=None, env=None):
        s = self.session(python, ["py-async-graph " + " ".join(r) for r in requests],
                         pid=pid, core=core, env=env)
        return s.outputs, s.stderr


# ---------------------------------------------------------------------------
# lldb

def find_lldb():
    """lldb: $LLDB (configure says "no" when it found none), else on PATH."""
    env = os.environ.get("LLDB")
    if env and env != "no":
        return env if os.path.sep in env else shutil.which(env)
    for name in ("lldb", "lldb-21", "lldb-14"):
        path = shutil.which(name)
        if path:
            return path
    return None


def lldb_quote(arg):
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Lldb(FrontEnd):
    kind = "lldb"
    formats = ("callgraph", "json")
    # TASK arguments in one session: all tasks up to this many, else a sample
    max_tasks = 40
    # scenarios also read through lldb's own memory reads (live and core);
    # PYAG_LLDB_FULL=1: every scenario
    via_lldb = ("gather", "futures", "blocked", "names", "agen")

    def unavailable_reason(self):
        if not find_lldb():
            return "lldb not found (set LLDB)"
        if not os.path.exists(LLDB_PLUGIN):
            return ("the lldb plugin is not built (no lldb SDK: apt-get install "
                    "liblldb-dev or liblldb-14-dev)")
        return None

    def pick(self, oracle):
        return ([(t["id"], t) for t in O.pick_tasks(oracle, self.max_tasks)] +
                [(t["name"], t) for t in O.pick_names(oracle, 4)])

    def variants(self, name):
        variants = [Variant("", None, True)]
        if name in self.via_lldb or os.environ.get("PYAG_LLDB_FULL"):
            variants.append(Variant(" via lldb", {"PYAG_LLDB_READ": "lldb"}, False))
        return variants

    def current_args(self, tid, main_thread):
        if tid == main_thread:
            # the thread lldb selects after attaching: this checks the
            # selected-thread plumbing
            return ["--current", "--format=callgraph"]
        return FrontEnd.current_args(self, tid, main_thread)

    @staticmethod
    def env(extra=None):
        env = dict(os.environ, LC_ALL="C.UTF-8")
        env.pop("PYAG_LLDB_READ", None)
        lldb = find_lldb() or ""
        # lldb-14 on bookworm runs its Python at start-up and prints
        # tracebacks without this; the plugin does not need it.
        m = re.search(r"(?:lldb|llvm)-(\d+)", lldb + " " + os.path.realpath(lldb))
        d = "/usr/lib/llvm-%s/lib/python3.11/dist-packages" % (m.group(1) if m else "")
        if m and "PYTHONPATH" not in os.environ and os.path.isdir(d):
            env["PYTHONPATH"] = d
        env.update(extra or {})
        return env

    def target_args(self, python, pid=None, core=None, modules=False):
        """lldb's arguments for a target, in another root filesystem too."""
        args = []
        root = H.python_root(python, self.root) if python else self.root
        if root:
            args += ["-O", "settings set target.debug-file-search-paths %s/usr/lib/debug"
                     % root, "-O", "platform select host --sysroot %s" % root]
            if modules:
                # lldb 14 does not apply the sysroot to a core's shared libraries
                args += ["-O", "settings set target.exec-search-paths "
                         "%s/usr/lib/python%s/lib-dynload %s/usr/lib/x86_64-linux-gnu "
                         "%s/lib/x86_64-linux-gnu" % (root, python, root, root)]
        if core:
            return args + [self.exe(python), "-c", core]
        if pid:
            return args + ["-p", str(pid)]
        return args

    def session(self, args, commands, env=None, stdin_commands=False, check=False,
                timeout=900):
        """Run lldb, load the plugin and run the commands; a Session whose
        outputs are what lldb printed after echoing each command.
        stdin_commands: the commands come on standard input (lldb goes on
        after an error).  check: raise RuntimeError unless all ran."""
        wanted = commands
        commands = ["plugin load " + LLDB_PLUGIN] + list(commands)
        argv = [find_lldb(), "-x", "--no-use-colors"]
        if stdin_commands:
            argv += args
            text = "".join(c + "\n" for c in commands) + "quit\n"
            p = subprocess.run(argv, input=text.encode(), capture_output=True,
                               timeout=timeout, env=self.env(env))
        else:
            argv = argv[:1] + ["-b"] + argv[1:] + args
            for c in commands + ["version"]:
                argv += ["-o", c]
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout, env=self.env(env))
        out = p.stdout.decode("utf-8", "replace")
        # lldb echoes each command it runs (the -O settings too): the lines
        # after the echo of the next command, up to the next echo, are its
        outputs = [None] * len(commands)
        lines = None
        for line in out.splitlines(keepends=True):
            if line.startswith("(lldb) "):
                echoed = line[len("(lldb) "):].rstrip("\n")
                done = sum(1 for o in outputs if o is not None)
                lines = None
                if done < len(commands) and echoed == commands[done]:
                    lines = outputs[done] = []
            elif lines is not None:
                lines.append(line)
        s = Session(["".join(o) if o is not None else None for o in outputs[1:]], out,
                    p.stderr.decode("utf-8", "replace"), p.returncode)
        return check_session("lldb", wanted, s) if check else s

    def run_requests(self, python, requests, pid=None, core=None, env=None):
        commands = ["async graph " + " ".join(
            a if a.startswith("-") or a.startswith("0x") else lldb_quote(a) for a in r)
            for r in requests]
        # through lldb's memory reads a core's libraries need more help
        modules = bool(core and env and env.get("PYAG_LLDB_READ") == "lldb")
        s = self.session(self.target_args(python, pid=pid, core=core, modules=modules),
                         commands, env=env, check=True)
        return s.outputs, s.stderr


FRONT_ENDS = {"cli": Cli, "gdb": Gdb, "lldb": Lldb}


# ---------------------------------------------------------------------------
# the scenario runner

def check_target(tap, fe, python, label, oracle, variant, kind, **target):
    """Check fe's Outputs for one target (pid= or core=; kind "live" or
    "core") against the oracle; the Outputs, None when fe failed."""
    label = "%s %s%s" % (label, kind, variant.suffix)
    try:
        outs = fe.outputs(python, fe.ask(oracle, tasks=variant.tasks), env=variant.env,
                          **target)
    except Exception as e:
        tap.ok(False, "%s: front end runs" % label, e)
        return None
    O.check_outputs(tap, label, outs, oracle, kind)
    return outs


# What py-async-graph does not rebuild yet on 3.11-3.13, by (minor
# version, scenario): the checks of these scenarios that fail are TAP TODO
# (expected failures, shown with the reason). None at present.
KNOWN_LEGACY_GAPS = {}


class _TodoTap:
    """A Tap whose failing checks are TODO (expected failures, XFAIL) with a
    reason; its passing checks pass as usual."""

    def __init__(self, tap, why):
        self._tap = tap
        self._why = why

    def ok(self, cond, desc, diag=None):
        if cond:
            return self._tap.ok(cond, desc, diag)
        return self._tap.todo(cond, desc, self._why, diag)

    def __getattr__(self, name):
        return getattr(self._tap, name)


def run_scenario(tap, fe, python, name, cores, live_checks=None):
    """Start scenario `name` under python3.X and check what front end fe
    prints for it, live and (cores) from a gcore of it, in each of its
    variants, against the oracle.  live_checks(tap, fe, label, scen, outs):
    more checks of the live process (scen, a pyag_harness.Scenario) and
    its Outputs, after the oracle's."""
    label = "%s %s %s" % (fe.kind, python, name)
    gap = KNOWN_LEGACY_GAPS.get((H.python_version(python), name))
    if gap:
        tap = _TodoTap(tap, gap)
    try:
        scen = H.Scenario(name, python=python, root=fe.root)
        scen.__enter__()
    except Exception as e:  # the scenario itself failed to start
        tap.ok(False, "%s: scenario starts" % label, e)
        return
    try:
        variants = fe.variants(name)
        for v in variants:
            outs = check_target(tap, fe, python, label, scen.oracle, v, "live", pid=scen.pid)
            if outs is not None and live_checks and not v.env:
                live_checks(tap, fe, label, scen, outs)
        if not cores:
            return
        if not H.find_gdb():
            tap.skip("%s core" % label, "no gdb to make a core")
            return
        tmp = tempfile.mkdtemp(prefix="pyag-core-")
        try:
            core = H.make_core(scen.pid, tmp, fe.root, fe.exe(python))
            if tap.ok(core is not None, "%s: gcore" % label):
                for v in variants:
                    check_target(tap, fe, python, label, scen.oracle, v, "core", core=core)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except Exception as e:
        tap.ok(False, "%s: runs" % label, e)
    finally:
        scen.__exit__(None, None, None)
