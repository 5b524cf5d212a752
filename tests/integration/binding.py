#!/usr/bin/env python3
"""Integration tests of the Python binding (python/pyag) against the CLI
and the in-process oracle (TAP).

Every scenario of tests/scenarios runs under python3.14 and python3.15; the
binding captures it (pyag.capture(pid)) and must give the CLI's graph: the
document built from the binding's objects equals `py-async-graph
--format=json PID`, and pyag.format_call_graph(graph, id) equals the
scenario's own asyncio.format_call_graph() for every task. Also: the
binding's ctypes structs against the header, cores, a session reading
through a Python callback, the command layer, errors, Python 3.9.

Environment as integration.py (top_srcdir, top_builddir, PYAG_ROOT,
PYAG_QUICK, PYAG_SCENARIOS, PYAG_PYTHONS).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(HERE, "..", ".."))
TOP_BUILDDIR = os.environ.get("top_builddir") or TOP_SRCDIR
CLI = os.path.join(TOP_BUILDDIR, "py-async-graph")
LIBRARY = os.path.join(TOP_BUILDDIR, ".libs", "libpyag.so")
sys.path.insert(0, os.path.join(TOP_SRCDIR, "tests", "harness"))
sys.path.insert(0, os.path.join(TOP_SRCDIR, "python"))
os.environ.setdefault("PYAG_LIBRARY", LIBRARY)

import pyag_harness as H  # noqa: E402
import pyag_oracle as O  # noqa: E402
import pyag_threads as P  # noqa: E402

import pyag  # noqa: E402


# ---- small helpers (TAP, the CLI, oracle access) ------------------------------

Tap = H.Tap


class Runner:
    """The CLI, on a live pid or a core (with the root filesystem as
    sysroot on the host)."""

    def __init__(self):
        self.root = None if H.inside_root() else H.root_path()

    def cli(self, args, pid=None, core=None):
        cmd = [CLI] + args
        if core:
            cmd += ["--core", core]
            if self.root:
                cmd += ["--sysroot", self.root]
        else:
            cmd.append(str(pid))
        p = subprocess.run(cmd, capture_output=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                    p.stderr.decode("utf-8", "replace")))
        return p.stdout.decode("utf-8", "replace")


class I:
    """What the checks need of the oracle and of gdb (the shared harness)."""
    first_diff = staticmethod(O.first_diff)
    oracle_tasks = staticmethod(O.oracle_tasks)

    @staticmethod
    def frames_of(graph):
        return [(f["function"], f["filename"], f["line"], f["kind"])
                for f in graph["call_stack"]]

    @staticmethod
    def make_core(pid, directory):
        """gcore the live process (it keeps running)."""
        return H.make_core(pid, directory)


def cli_json(runner, pid=None, core=None):
    return runner.cli(["--format=json"], pid=pid, core=core)


def check_graph(tap, label, g, cli_text, oracle, truth=None):
    """The binding's objects against the CLI's JSON and the oracle.
    truth: the scenario's threads.json, if any: the innermost line of its
    CPU-bound thread moves between the two reads and is not compared."""
    try:
        doc = P.mask_cpu_lines(json.loads(cli_text), truth)
    except ValueError as e:
        tap.ok(False, "%s: the CLI's json parses" % label, e)
        return
    mine = P.mask_cpu_lines(g.to_dict(), truth)
    diag = None
    if mine != doc:
        diag = first_dict_diff(mine, doc)
    masked = " (the CPU-bound thread's line aside)" if P.has_cpu_bound(truth) else ""
    tap.ok(mine == doc, "%s: the binding's graph equals the CLI's json (%d tasks)%s"
           % (label, len(doc["tasks"]), masked), diag)
    same = P.mask_cpu_lines(json.loads(g.render("json")), truth) == doc
    tap.ok(same, "%s: graph.render('json') equals the CLI's output%s" % (label, masked),
           I.first_diff(g.render("json"), cli_text))
    # format_call_graph for every task of the oracle
    want = [t for t in I.oracle_tasks(oracle) if not t.get("running")]
    bad = []
    for t in want:
        try:
            got = pyag.format_call_graph(g, int(t["id"], 16))
        except pyag.Error as e:
            got = "<pyag.Error %s>" % e
        if got != t["callgraph"]:
            bad.append((t, got))
    d = None
    if bad:
        t, got = bad[0]
        d = "%d of %d differ; first %s %r\n%s" % (len(bad), len(want), t["id"],
                                                  t.get("name"),
                                                  I.first_diff(got, t["callgraph"]))
    tap.ok(want and not bad, "%s: pyag.format_call_graph equals "
           "asyncio.format_call_graph for %d tasks and futures" % (label, len(want)), d)
    check_shape(tap, label, g, oracle)


def first_dict_diff(a, b, path="$"):
    if type(a) is not type(b):
        return "%s: %r != %r" % (path, a, b)
    if isinstance(a, dict):
        if list(a) != list(b):
            return "%s: keys %r != %r" % (path, list(a), list(b))
        for k in a:
            if a[k] != b[k]:
                return first_dict_diff(a[k], b[k], path + "." + k)
    elif isinstance(a, list):
        if len(a) != len(b):
            return "%s: %d items != %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_dict_diff(x, y, "%s[%d]" % (path, i))
    return "%s: %r != %r" % (path, a, b)


def check_shape(tap, label, g, oracle):
    """The asyncio.graph-shaped objects against the oracle's
    capture_call_graph(), followed through .awaited_by."""
    problems = []
    seen = set()

    def compare(want, node):
        if want["id"] in seen:
            return
        seen.add(want["id"])
        f = node.future
        if "%#x" % f.id != want["id"] or f.kind != want["kind"]:
            problems.append("%s: node %r" % (want["id"], f))
            return
        if want["kind"] == "task" and f.name != want["name"]:
            problems.append("%s: name %r != %r" % (want["id"], f.name, want["name"]))
        if not f.running:
            got = [(e.function, e.filename, e.lineno, e.kind) for e in node.call_stack]
            if got != I.frames_of(want):
                problems.append("%s: stack %r != %r" % (want["id"], got,
                                                         I.frames_of(want)))
        got_by = ["%#x" % a.future.id for a in node.awaited_by]
        want_by = [a["id"] for a in want["awaited_by"]]
        if got_by != want_by:
            problems.append("%s: awaited_by %r != %r" % (want["id"], got_by, want_by))
            return
        for a, n in zip(want["awaited_by"], node.awaited_by):
            compare(a, n)

    count = 0
    for t in I.oracle_tasks(oracle):
        if not t.get("graph"):
            continue
        node = g.find(int(t["id"], 16))
        if node is None:
            problems.append("%s not in graph.tasks" % t["id"])
            continue
        count += 1
        compare(t["graph"], node)
    tap.ok(count and not problems, "%s: .future/.call_stack/.awaited_by equal "
           "capture_call_graph() (%d tasks)" % (label, count),
           "\n".join(problems[:10]))


def check_limit(tap, runner, label, g, pid, oracle):
    """format_call_graph(limit=...) as the CLI's --limit."""
    tasks = [t for t in I.oracle_tasks(oracle) if t["kind"] == "task"
             and not t.get("running")]
    if not tasks:
        return
    t = tasks[0]
    bad = []
    for limit in (1, -1, 0):
        out = runner.cli(["--format=callgraph", "--limit=%d" % limit, t["id"]],
                         pid=pid).rstrip("\n")
        got = pyag.format_call_graph(g, int(t["id"], 16), limit=limit)
        if got != out:
            bad.append("limit %d: %s" % (limit, I.first_diff(got, out)))
    tap.ok(not bad, "%s: format_call_graph(limit=1, -1, 0) equals --limit" % label,
           "\n".join(bad))


def proc_mem_reader(pid):
    """A read callback over /proc/PID/mem (a stand-in for a debugger's)."""
    f = open("/proc/%d/mem" % pid, "rb", buffering=0)

    def read(address, size):
        try:
            return os.pread(f.fileno(), size, address)
        except OSError:
            return None
    return f, read


def check_session(tap, runner, label, pid, cli_text, scen=None):
    """A session reading through a Python callback, run through the
    command layer: the same JSON, the styled spans give the same text, the
    settings' defaults apply, warnings come as messages.  scen: the
    pyag_harness.Scenario (its thread truth, if any, as in check_graph)."""
    truth = scen.threads if scen else None
    f, read = proc_mem_reader(pid)
    try:
        with pyag.Session(read=read, kind="live", pid=pid) as s:
            if runner.root:
                s.set_sysroot(runner.root)
            if scen:
                scen.wait_parked()
            res = pyag.run_command(s, ["--format=json"])
            # a session that only reads memory cannot know the kernel's
            # thread names: the CLI's "comm" values are /proc's, ours null
            want = P.mask_cpu_lines(json.loads(cli_text), truth)
            comms = {}
            for th in want["threads"]:
                comms[th["native_thread_id"]] = th["comm"]
                th["comm"] = None
            proc = {}
            for tid in comms:
                try:
                    with open("/proc/%d/task/%d/comm" % (pid, tid)) as c:
                        proc[tid] = c.read().rstrip("\n")
                except OSError:
                    proc[tid] = None
            tap.ok(P.mask_cpu_lines(json.loads(res.output), truth) == want and comms == proc,
                   "%s: run_command on a callback session equals the CLI (and the "
                   "CLI's comm is /proc's)" % label,
                   "comm %r != %r\n%s" % (comms, proc, I.first_diff(
                       res.output, json.dumps(want))))
            plain = pyag.run_command(s, ["--format=callgraph"]).output
            spans = []
            pyag.run_command(s, [], default_format="callgraph",
                             styled_write=lambda st, text: spans.append((st, text)))
            styles = {st for st, _ in spans}
            tap.ok("".join(t for _, t in spans) == plain and
                   {pyag.Style.TASK_NAME, pyag.Style.ADDRESS, pyag.Style.FILENAME,
                    pyag.Style.FUNCTION} <= styles,
                   "%s: styled spans of callgraph (default_format) are its text, "
                   "with the four styles" % label,
                   "styles %r\n%s" % (sorted(styles), I.first_diff(
                       "".join(t for _, t in spans), plain)))
            limited = pyag.run_command(s, ["--format=callgraph", "--limit=0"]).output
            dflt = pyag.run_command(s, ["--format=callgraph"], default_limit=0).output
            tap.ok(dflt == limited and limited != plain,
                   "%s: default_limit is --limit when argv gives none" % label,
                   I.first_diff(dflt, limited))
            res = pyag.run_command(s, ["--stats", "--format=table"])
            stats = [m for m in res.messages if m.kind == pyag.MessageKind.STATS]
            warns = [m for m in res.messages if m.kind == pyag.MessageKind.WARNING]
            tap.ok(stats and all(m.text.startswith("stats:") for m in stats) and
                   res.output and res.status == (1 if warns else 0),
                   "%s: --stats and warnings come as messages; status 1 with "
                   "warnings or cycles" % label, res)
    finally:
        f.close()


def check_core(tap, runner, label, pid, oracle):
    tmp = tempfile.mkdtemp(prefix="pyag-bcore-")
    try:
        core = I.make_core(pid, tmp)
        if not tap.ok(core is not None, "%s: gcore" % label):
            return
        text = cli_json(runner, core=core)
        g = pyag.capture(core=core, sysroot=runner.root, waiting=True)
        check_graph(tap, label + " core", g, text, oracle)
        tap.ok(g.target.kind == "core" and g.target.pid == pid,
               "%s core: target facts say core, pid %d" % (label, pid),
               g.target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_scenario(tap, runner, python, name, extra):
    label = "python %s %s" % (python, name)
    try:
        scen = H.Scenario(name, python=python, root=runner.root)
        scen.__enter__()
    except Exception as e:
        tap.ok(False, "%s: scenario starts" % label, e)
        return
    try:
        try:
            # each read stops the process; with a thread truth, the next
            # one waits until it is parked again (Scenario.wait_parked)
            text = cli_json(runner, pid=scen.pid)
            scen.wait_parked()
            g = pyag.capture(scen.pid, waiting=True)
        except Exception as e:
            tap.ok(False, "%s: capture" % label, e)
            return
        with g:
            check_graph(tap, label + " live", g, text, scen.oracle, scen.threads)
            if extra:
                check_limit(tap, runner, label + " live", g, scen.pid, scen.oracle)
        if extra:
            check_session(tap, runner, label + " live", scen.pid, text, scen)
            scen.wait_parked()
            check_core(tap, runner, label, scen.pid, scen.oracle)
    finally:
        scen.__exit__(None, None, None)


def check_errors(tap, runner):
    def expect(desc, code, fn):
        try:
            fn()
        except pyag.Error as e:
            tap.ok(e.code == code and e.message and "\n" not in e.message,
                   "errors: %s: pyag.Error %s" % (desc, code.name),
                   "%r" % e)
            return
        except Exception as e:
            tap.ok(False, "errors: %s: pyag.Error %s" % (desc, code.name), repr(e))
            return
        tap.ok(False, "errors: %s: pyag.Error %s" % (desc, code.name), "no error")

    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        expect("a process that is not Python", pyag.ErrorCode.NOT_PYTHON,
               lambda: pyag.capture(sleeper.pid))
    finally:
        sleeper.kill()
        sleeper.wait()
    expect("no such process", pyag.ErrorCode.NO_PROCESS, lambda: pyag.capture(4194000))
    expect("a bad layout name", pyag.ErrorCode.USAGE,
           lambda: pyag.capture(os.getpid(), layout="yaml"))
    expect("an empty file as core", pyag.ErrorCode.BAD_FORMAT,
           lambda: pyag.capture(core="/dev/null"))
    expect("run_command without a session", pyag.ErrorCode.USAGE,
           lambda: pyag.run_command(None, ["--format=tree"]))
    res = pyag.run_command(None, ["--help"])
    tap.ok(res.status == 0 and res.output == pyag.command_usage() and "--format" in res.output,
           "run_command(None, ['--help']) prints the usage", res)

    def reader_raises(address, size):
        raise KeyboardInterrupt
    try:
        with pyag.Session(read=reader_raises, pid=os.getpid()) as s:
            s.read(4096, 8)
        tap.ok(False, "errors: a read callback's KeyboardInterrupt is raised", "none")
    except KeyboardInterrupt:
        tap.ok(True, "errors: a read callback's KeyboardInterrupt is raised again "
               "after the library returns")
    except pyag.Error as e:
        tap.ok(False, "errors: a read callback's KeyboardInterrupt is raised", repr(e))

    def write_raises(text):
        raise ValueError("the sink is full")
    try:
        pyag.run_command(None, ["--help"], write=write_raises)
        tap.ok(False, "errors: a write callback's exception is raised", "none")
    except ValueError:
        tap.ok(True, "errors: a write callback's exception stops the command and "
               "is raised again")
    except pyag.Error as e:
        tap.ok(False, "errors: a write callback's exception is raised", repr(e))
    with pyag.Session(read=lambda a, n: b"\x5a" * n, pid=os.getpid()) as s:
        tap.ok(s.read(4096, 4) == b"ZZZZ", "Session.read goes through the read callback")


def check_layout(tap):
    p = subprocess.run([sys.executable, os.path.join(HERE, "python_layout.py"),
                        TOP_SRCDIR], capture_output=True, text=True)
    if p.returncode == 77:
        tap.skip("ctypes structs equal the header's", p.stdout.strip())
        return
    tap.ok(p.returncode == 0, "ctypes structs equal pyag.h's (size and offset of "
           "every field)", p.stdout + p.stderr)


def find_python39():
    """A Python 3.9 that runs (pyenv's shims may name one that does not)."""
    import glob
    cands = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    cands.reverse()
    cands += [shutil.which("python3.9")]
    for cand in cands:
        if cand and subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
            return cand
    return None


def check_python39(tap, runner):
    """The binding on the oldest Python it supports: one capture equal to
    the CLI's."""
    py = find_python39()
    if not py:
        tap.skip("python 3.9 runs the binding", "no python3.9 found")
        return
    with H.Scenario("gather", python="3.14", root=runner.root) as scen:
        text = cli_json(runner, pid=scen.pid)
        code = ("import json, sys; sys.path.insert(0, %r); import pyag; "
                "print(json.dumps(pyag.capture(%d, waiting=True).to_dict()))"
                % (os.path.join(TOP_SRCDIR, "python"), scen.pid))
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        for k in ("PYTHONPATH", "PYTHONHOME"):
            env.pop(k, None)
        p = subprocess.run([py, "-c", code], capture_output=True, text=True, env=env,
                           timeout=300)
        ok = p.returncode == 0 and (P.mask_cpu_lines(json.loads(p.stdout or "{}"), None) ==
                                    P.mask_cpu_lines(json.loads(text), None))
        tap.ok(ok, "python 3.9 (%s): the binding's graph equals the CLI's json" % py,
               p.stderr[-1500:] or I.first_diff(p.stdout, text))


def main():
    tap = Tap()
    # the quick checks (a few seconds) also run under PYAG_QUICK: they show
    # that the binding is in the tarball and loads the library it builds
    check_layout(tap)
    try:
        path = pyag.load_library()
    except pyag.Error as e:
        tap.ok(False, "the binding loads libpyag", e)
        tap.done()
        return 0
    tap.ok(pyag.api_version() == pyag.API_VERSION,
           "the binding loads %s (%s, API %d)" % (path, pyag.version(), pyag.api_version()))
    runner = Runner()
    if os.environ.get("PYAG_QUICK"):
        check_errors(tap, runner)
        tap.skip("python binding: scenarios", "PYAG_QUICK set")
        tap.done()
        return 0
    if not H.available():
        tap.skip("python binding: scenarios", H.unavailable_reason())
        check_errors(tap, runner)
        tap.done()
        return 0
    only = os.environ.get("PYAG_SCENARIOS", "").split()
    if not only:
        check_errors(tap, runner)
        check_python39(tap, runner)
    pythons = os.environ.get("PYAG_PYTHONS", "3.14 3.15").split()
    for python in pythons:
        for name in H.list_scenarios(python):
            if only and name not in only:
                continue
            # cores, the callback session and limits: a few scenarios
            extra = name in ("taskgroups", "futures", "agen") or bool(only)
            run_scenario(tap, runner, python, name, extra)
    tap.done()
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
