#!/usr/bin/env python3
"""Integration tests against real interpreters and the in-process oracle.

Every scenario of tests/scenarios runs under python3.14 and python3.15; the
front end under test reads it live and from a gcore of it, and its output
must equal what the scenario itself wrote with asyncio.format_call_graph()
and capture_call_graph() (the oracle), and CPython's own `python -m asyncio
ps/pstree` where those tools are right.

    integration.py cli      the py-async-graph command
    integration.py gdb      the gdb command (gdb on PATH or $GDB)

Output is TAP. Environment: top_srcdir, top_builddir (set by make check),
PYAG_ROOT (the sid root filesystem, when run on the host), PYAG_QUICK=1 to
skip (used by distcheck), PYAG_SCENARIOS / PYAG_PYTHONS to narrow the run.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOP_SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
TOP_BUILDDIR = os.environ.get("top_builddir") or TOP_SRCDIR
sys.path.insert(0, os.path.join(TOP_SRCDIR, "tests", "harness"))

import pyag_harness as H  # noqa: E402

CLI = os.path.join(TOP_BUILDDIR, "py-async-graph")
LIBRARY = os.path.join(TOP_BUILDDIR, ".libs", "libpyag.so")
GDB_SCRIPT = os.path.join(TOP_SRCDIR, "gdb", "py_async_graph.py")


class Tap:
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

    def skip(self, desc, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc, why))
        sys.stdout.flush()

    def diag(self, text):
        for line in text.splitlines():
            print("# " + line)

    def done(self):
        print("1..%d" % self.n)


def split_blocks(text):
    """The whole-process callgraph: one block per task, each starting with
    an unindented '* ' header; blocks are separated by a blank line."""
    blocks = {}
    cur = None
    for line in text.split("\n"):
        if line.startswith("* "):
            m = re.search(r"id=(0x[0-9a-f]+)\)", line)
            cur = m.group(1) if m else None
            blocks[cur] = [line]
        elif cur is not None:
            blocks[cur].append(line)
    return {k: "\n".join(v).rstrip("\n") for k, v in blocks.items()}


def first_diff(a, b):
    al, bl = a.splitlines(), b.splitlines()
    for i in range(max(len(al), len(bl))):
        x = al[i] if i < len(al) else "<end>"
        y = bl[i] if i < len(bl) else "<end>"
        if x != y:
            return "line %d:\n  got:    %r\n  oracle: %r" % (i + 1, x, y)
    return "equal"


def oracle_tasks(oracle):
    return [t for t in oracle["tasks"] if t.get("callgraph") is not None]


def check_callgraph(tap, label, text, oracle):
    """Every oracle task's format_call_graph text, from one whole-process
    callgraph output."""
    blocks = split_blocks(text)
    want = [t for t in oracle_tasks(oracle)
            if t["kind"] == "task" and not t.get("running")]
    bad = []
    for t in want:
        got = blocks.get(t["id"])
        if got != t["callgraph"]:
            bad.append((t, got))
    diag = None
    if bad:
        t, got = bad[0]
        diag = "%d of %d tasks differ; first: %s %r\n%s" % (
            len(bad), len(want), t["id"], t["name"],
            first_diff(got or "<missing>", t["callgraph"]))
    tap.ok(not bad and want, "%s: callgraph of %d tasks equals format_call_graph"
           % (label, len(want)), diag)


def frames_of(graph):
    return [(f["function"], f["filename"], f["line"], f["kind"])
            for f in graph["call_stack"]]


def check_json(tap, label, text, oracle):
    try:
        doc = json.loads(text)
    except ValueError as e:
        tap.ok(False, "%s: json parses" % label, "%s\n%s" % (e, text[:500]))
        return
    keys = list(doc.keys())
    if not tap.ok(keys == ["schema", "target", "threads", "tasks", "cycles",
                           "warnings"] and doc["schema"] == 1,
                  "%s: json schema 1 with keys in order" % label, keys):
        return
    ours = {t["id"]: t for t in doc["tasks"]}
    problems = []
    seen = set()

    def compare(g):
        if g["id"] in seen:
            return
        seen.add(g["id"])
        t = ours.get(g["id"])
        if t is None:
            problems.append("%s missing" % g["id"])
            return
        if t["kind"] != g["kind"]:
            problems.append("%s kind %s != %s" % (g["id"], t["kind"], g["kind"]))
        if g["kind"] == "task" and t["name"] != g["name"]:
            problems.append("%s name %r != %r" % (g["id"], t["name"], g["name"]))
        if not t["running"]:
            got = [(f["function"], f["filename"], f["line"], f["kind"])
                   for f in t["call_stack"]]
            if got != frames_of(g):
                problems.append("%s stack %r != %r" % (g["id"], got, frames_of(g)))
        want_by = [a["id"] for a in g["awaited_by"]]
        if t["awaited_by"] != want_by:
            problems.append("%s awaited_by %r != %r" % (g["id"], t["awaited_by"],
                                                         want_by))
        for a in g["awaited_by"]:
            compare(a)

    for t in oracle_tasks(oracle):
        if t.get("graph"):
            compare(t["graph"])
    # every listed oracle task is there, also those on cycles
    for t in oracle["tasks"]:
        if t["id"] not in ours:
            problems.append("%s (%s) not in the output" % (t["id"], t.get("name")))
        elif "awaited_by_ids" in t and ours[t["id"]]["awaited_by"] != t["awaited_by_ids"]:
            problems.append("%s awaited_by %r != %r" % (
                t["id"], ours[t["id"]]["awaited_by"], t["awaited_by_ids"]))
    want_cycles = oracle.get("cycles") or []
    if want_cycles:
        got = sorted(sorted(set(c)) for c in doc["cycles"])
        want = sorted(sorted(set(c)) for c in want_cycles)
        if got != want:
            problems.append("cycles %r != %r" % (doc["cycles"], want_cycles))
    elif doc["cycles"]:
        problems.append("unexpected cycles %r" % doc["cycles"])
    tap.ok(not problems, "%s: json graph equals capture_call_graph (%d tasks)"
           % (label, len(oracle["tasks"])),
           "\n".join(problems[:10]) + ("\n..." if len(problems) > 10 else ""))


def check_current(tap, label, text, oracle, tid):
    want = oracle["current"][str(tid)]
    tap.ok(text.rstrip("\n") == want, "%s: --current on thread %s equals "
           "format_call_graph() in that task" % (label, tid),
           first_diff(text.rstrip("\n"), want))


class Runner:
    """Runs one front end against a live pid or a core."""

    def __init__(self, kind):
        self.kind = kind
        self.root = None if H.inside_root() else H.root_path()

    # ---- the CLI ------------------------------------------------------
    def cli(self, args, pid=None, core=None, check=True):
        cmd = [CLI] + args
        if core:
            cmd += ["--core", core]
            if self.root:
                cmd += ["--sysroot", self.root]
        else:
            cmd.append(str(pid))
        p = subprocess.run(cmd, capture_output=True, timeout=600)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, err))
        return out, err, p.returncode

    # ---- gdb ------------------------------------------------------------
    def gdb(self, python, commands, pid=None, core=None):
        """Run gdb in batch mode; return the text between markers, per
        command."""
        gdb = os.environ.get("GDB") or shutil.which("gdb")
        exe = "/usr/bin/python" + python
        cmd = [gdb, "-q", "-nx", "-batch",
               "-iex", "set debuginfod enabled off",
               "-iex", "set auto-load safe-path /",
               "-iex", "set pagination off", "-iex", "set width 0"]
        if self.root:
            cmd += ["-iex", "set sysroot " + self.root,
                    "-iex", "set debug-file-directory %s/usr/lib/debug" % self.root]
            exe = self.root + exe
        cmd += ["-ex", "source " + GDB_SCRIPT]
        for i, c in enumerate(commands):
            cmd += ["-ex", "echo \\n@@PYAG %d@@\\n" % i, "-ex", c]
        cmd += ["-ex", "echo \\n@@PYAG END@@\\n"]
        if core:
            cmd += [exe, core]
        else:
            cmd += [exe, "-p", str(pid)]
        env = dict(os.environ, PYAG_LIBRARY=LIBRARY)
        p = subprocess.run(cmd, capture_output=True, timeout=600, env=env)
        out = p.stdout.decode("utf-8", "replace")
        parts = re.split(r"\n@@PYAG (\d+|END)@@\n", out)
        res = {}
        for k in range(1, len(parts) - 1, 2):
            if parts[k] != "END":
                res[int(parts[k])] = parts[k + 1]
        if len(res) != len(commands):
            raise RuntimeError("gdb did not run all commands:\n%s\n%s" % (
                out[-2000:], p.stderr.decode("utf-8", "replace")[-2000:]))
        return res, p.stderr.decode("utf-8", "replace")

    def outputs(self, python, pid=None, core=None, current_tid=None):
        """callgraph, json (and --current) from the front end under test."""
        cmds = ["--format=callgraph", "--format=json"]
        if current_tid:
            cmds.append("--current --format=callgraph --thread=%s" % current_tid)
        if self.kind == "cli":
            return [self.cli(c.split(), pid=pid, core=core)[0] for c in cmds]
        res, err = self.gdb(python, ["py-async-graph " + c for c in cmds],
                            pid=pid, core=core)
        return [res[i] for i in range(len(cmds))]


def make_core(pid, directory):
    """gcore the live process (it keeps running)."""
    gdb = os.environ.get("GDB") or shutil.which("gdb")
    prefix = os.path.join(directory, "core")
    subprocess.run([gdb, "-q", "-nx", "-batch", "-iex", "set debuginfod enabled off",
                    "-p", str(pid), "-ex", "gcore " + prefix],
                   capture_output=True, timeout=300)
    return prefix if os.path.exists(prefix) else None


def run_scenario(tap, runner, python, name, cores):
    label = "%s %s %s" % (runner.kind, python, name)
    try:
        scen = H.Scenario(name, python=python, root=runner.root)
        scen.__enter__()
    except Exception as e:  # the scenario itself failed to start
        tap.ok(False, "%s: scenario starts" % label, e)
        return
    try:
        oracle = scen.oracle
        current = oracle.get("current") or {}
        tid = next(iter(current), None)
        try:
            outs = runner.outputs(python, pid=scen.pid, current_tid=tid)
        except Exception as e:
            tap.ok(False, "%s: front end runs" % label, e)
            return
        check_callgraph(tap, label + " live", outs[0], oracle)
        check_json(tap, label + " live", outs[1], oracle)
        if tid:
            check_current(tap, label + " live", outs[2], oracle, tid)
        if runner.kind == "cli":
            check_single_tasks(tap, runner, label, scen.pid, oracle)
            if name in ("taskgroups", "gather"):
                check_no_writes(tap, runner, label, scen.pid)
        if not cores:
            return
        tmp = tempfile.mkdtemp(prefix="pyag-core-")
        try:
            core = make_core(scen.pid, tmp)
            if not tap.ok(core is not None, "%s: gcore" % label):
                return
            try:
                outs = runner.outputs(python, core=core, current_tid=tid)
            except Exception as e:
                tap.ok(False, "%s core: front end runs" % label, e)
                return
            check_callgraph(tap, label + " core", outs[0], oracle)
            check_json(tap, label + " core", outs[1], oracle)
            if tid:
                check_current(tap, label + " core", outs[2], oracle, tid)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        scen.__exit__(None, None, None)


def writable_memory_digest(pid):
    """sha256 of every readable, writable mapping of a (stopped) process."""
    import hashlib
    h = hashlib.sha256()
    n = 0
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb") as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if fields[1][:2] != "rw" or (len(fields) > 5 and fields[5] == "[vvar]"):
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            h.update(fields[0].encode())
            h.update(data)
            n += len(data)
    return h.hexdigest(), n


def check_no_writes(tap, runner, label, pid):
    """The target is stopped (SIGSTOP: it cannot change its own memory); its
    writable memory must be the same before and after we read it."""
    import signal
    os.kill(pid, signal.SIGSTOP)
    try:
        before, size = writable_memory_digest(pid)
        for fmt in ("tree", "callgraph", "json", "table"):
            runner.cli(["--format=" + fmt], pid=pid)
        runner.cli(["--format=json", "--no-stop"], pid=pid)
        after, _ = writable_memory_digest(pid)
    finally:
        os.kill(pid, signal.SIGCONT)
    tap.ok(before == after and size > 0, "%s live: the target's %d bytes of "
           "writable memory are unchanged after reading it" % (label, size),
           "digest before %s, after %s" % (before, after))


def check_single_tasks(tap, runner, label, pid, oracle):
    """The TASK argument: by address for a few tasks and every future, and by
    name once."""
    tasks = [t for t in oracle_tasks(oracle) if not t.get("running")]
    picks = [t for t in tasks if t["kind"] == "task"][:3]
    picks += [t for t in tasks if t["kind"] == "future"]
    bad = []
    for t in picks:
        out = runner.cli(["--format=callgraph", t["id"]], pid=pid)[0]
        if out.rstrip("\n") != t["callgraph"]:
            bad.append("%s: %s" % (t["id"], first_diff(out.rstrip("\n"), t["callgraph"])))
    tap.ok(not bad, "%s live: TASK by address (%d tasks/futures)" % (label, len(picks)),
           "\n".join(bad[:3]))


def kernel_core(python, root, directory):
    """Run abort_task.py (it aborts inside a running task); return the core
    path and the oracle, as seen from here."""
    src = os.path.join(TOP_SRCDIR, "tests", "integration", "abort_task.py")
    shutil.copy(src, directory)
    inner = directory[len(root):] if root else directory
    argv = ["/usr/bin/python" + python, os.path.join(inner, "abort_task.py"), inner]
    if root:
        argv = ["chroot", root] + argv
    subprocess.run(argv, capture_output=True, timeout=120)
    core = os.path.join(directory, "core")
    with open(os.path.join(directory, "oracle.json")) as f:
        oracle = json.load(f)
    return (core if os.path.exists(core) else None), oracle


def run_kernel_core(tap, runner, python):
    label = "%s %s kernel core" % (runner.kind, python)
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    if pattern.startswith("|") or "/" in pattern:
        tap.skip(label, "kernel.core_pattern is %r; the test needs cores "
                 "written to the crashing process's directory" % pattern)
        return
    base = (runner.root or "") + "/var/tmp"
    tmp = tempfile.mkdtemp(prefix="pyag-kcore-", dir=base)
    try:
        core, oracle = kernel_core(python, runner.root, tmp)
        if not tap.ok(core is not None, "%s: the kernel wrote a core" % label):
            return
        tid = next(iter(oracle["current"]))
        outs = runner.outputs(python, core=core, current_tid=tid)
        want = {t["id"]: t["callgraph"] for t in oracle["tasks"]}
        blocks = split_blocks(outs[0])
        bad = [i for i, text in want.items() if blocks.get(i) != text]
        tap.ok(want and not bad, "%s: callgraph of the %d waiting tasks" % (label, len(want)),
               bad and first_diff(blocks.get(bad[0], "<missing>"), want[bad[0]]))
        doc = json.loads(outs[1])
        running = [t["id"] for t in doc["tasks"] if t["running"]]
        tap.ok(running == [oracle["running"]], "%s: the aborting task is marked "
               "running" % label, "running: %r, expected %r" % (running, oracle["running"]))
        check_current(tap, label, outs[2], oracle, tid)
    except Exception as e:
        tap.ok(False, "%s: runs" % label, e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else "cli"
    tap = Tap()
    if os.environ.get("PYAG_QUICK"):
        tap.skip("integration (%s)" % kind, "PYAG_QUICK set")
        tap.done()
        return 0
    if kind == "gdb" and not (os.environ.get("GDB") or shutil.which("gdb")):
        tap.skip("gdb integration", "gdb not found")
        tap.done()
        return 0
    if not H.available():
        tap.skip("integration (%s)" % kind, H.unavailable_reason())
        tap.done()
        return 0
    runner = Runner(kind)
    pythons = os.environ.get("PYAG_PYTHONS", "3.14 3.15").split()
    only = os.environ.get("PYAG_SCENARIOS", "").split()
    for python in pythons:
        for name in H.list_scenarios(python):
            if only and name not in only:
                continue
            run_scenario(tap, runner, python, name, cores=True)
        if not only:
            run_kernel_core(tap, runner, python)
    tap.done()
    return 0


if __name__ == "__main__":
    sys.exit(main())
