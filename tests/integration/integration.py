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
    def gdb(self, python, commands, pid=None, core=None, env=None):
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
        # no layout cache: every run parses DWARF inside gdb (whose own
        # libdw has libdwarf's function names)
        env = dict(os.environ, PYAG_LIBRARY=LIBRARY, PYAG_NO_CACHE="1", **(env or {}))
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
        """callgraph, json, table, tree, dot (and --current) from the front
        end under test."""
        cmds = ["--format=callgraph", "--format=json", "--format=table",
                "--format=tree", "--format=dot"]
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
            check_current(tap, label + " live", outs[5], oracle, tid)
        check_cpython_tools(tap, runner, label, python, name, scen.pid, outs[2:4])
        check_dot(tap, label + " live", outs[4])
        check_layouts(tap, runner, label, python, scen.pid, oracle, outs[1])
        if runner.kind == "cli":
            check_single_tasks(tap, runner, label, scen.pid, oracle)
            check_csv(tap, runner, label, scen.pid, outs[2])
            if oracle.get("cycles"):
                check_cycle_tree(tap, runner, label, scen.pid, oracle)
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
                check_current(tap, label + " core", outs[5], oracle, tid)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        scen.__exit__(None, None, None)


# Where CPython's own tools are wrong (tests/scenarios/README.md, findings):
# the comparison is still made, and a difference is reported as a known one.
KNOWN_CPYTHON_DIFFERENCES = {
    ("3.14", "threads"): "3.14's ps/pstree read only the main thread's task list",
    ("3.14", "names"): "3.14's ps/pstree misread non-ASCII task names",
    ("3.14", "longnames"): "3.14's ps/pstree misread non-ASCII names and cut names at 255",
    ("3.15", "longnames"): "CPython's ps/pstree cut task names at 255 characters",
    ("3.14", "blocked"): "ps/pstree show only the outermost frame of a running task",
    ("3.15", "blocked"): "ps/pstree show only the outermost frame of a running task",
    ("3.14", "futures"): "ps/pstree stop at the first plain future",
    ("3.15", "futures"): "ps/pstree stop at the first plain future",
    ("3.14", "cycle"): "pstree refuses to draw a graph with a cycle",
    ("3.15", "cycle"): "pstree refuses to draw a graph with a cycle",
}


def check_cpython_tools(tap, runner, label, python, name, pid, ours):
    """--format=table / tree against python3.X -m asyncio ps / pstree on the
    same live process."""
    known = KNOWN_CPYTHON_DIFFERENCES.get((python, name))
    for tool, fmt, text in (("ps", "table", ours[0]), ("pstree", "tree", ours[1])):
        p = H.run_in_root(["/usr/bin/python" + python, "-m", "asyncio", tool, str(pid)],
                          root=runner.root, timeout=300)
        theirs = p.stdout if isinstance(p.stdout, str) else p.stdout.decode("utf-8", "replace")
        desc = "%s live: --format=%s equals python%s -m asyncio %s" % (label, fmt, python, tool)
        if p.returncode != 0 or text != theirs:
            if known:
                tap.skip(desc, "known CPython difference: " + known)
                continue
            diag = ("%s exited %d: %s" % (tool, p.returncode, str(p.stderr)[-300:])
                    if p.returncode else first_diff(text, theirs))
            tap.ok(False, desc, diag)
        else:
            tap.ok(True, desc)


def check_layouts(tap, runner, label, python, pid, oracle, default_json):
    """Layouts from DWARF alone and from the debug offsets alone give the
    oracle's graph too; by default both are used and agree (no drift)."""
    doc = json.loads(default_json)
    has_dbg = os.path.exists((runner.root or "") + "/usr/lib/debug/.build-id")
    drift = [w for w in doc["warnings"] if "drift" in w or "DWARF" in w]
    if has_dbg:
        tap.ok(doc["target"]["layout"] == "debug-offsets+dwarf" and not drift,
               "%s live: layout from debug offsets and DWARF, no drift" % label,
               "layout %r, warnings %r" % (doc["target"]["layout"], drift))
    if runner.kind != "cli":
        return
    for mode in ("offsets", "dwarf"):
        if mode == "dwarf" and not has_dbg:
            tap.skip("%s live: --layout=dwarf" % label, "no debug info installed")
            continue
        out = runner.cli(["--layout=" + mode, "--format=callgraph"], pid=pid)[0]
        blocks = split_blocks(out)
        want = [t for t in oracle_tasks(oracle) if t["kind"] == "task" and not t.get("running")]
        bad = [t["id"] for t in want if blocks.get(t["id"]) != t["callgraph"]]
        tap.ok(want and not bad, "%s live: --layout=%s callgraph equals "
               "format_call_graph" % (label, mode), "differ: %r" % bad[:5])


def check_dot(tap, label, text):
    """Graphviz accepts the dot output."""
    dot = shutil.which("dot")
    if not dot:
        tap.skip("%s: dot -Tsvg accepts --format=dot" % label, "graphviz not installed")
        return
    p = subprocess.run([dot, "-Tsvg"], input=text.encode(), capture_output=True,
                       timeout=600)
    tap.ok(p.returncode == 0 and b"<svg" in p.stdout,
           "%s: dot -Tsvg accepts --format=dot" % label, p.stderr.decode()[-500:])


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
        check_current(tap, label, outs[5], oracle, tid)
    except Exception as e:
        tap.ok(False, "%s: runs" % label, e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract_corefile(directory, tmp):
    """Unpack a committed core and its file skeleton (with the standard
    library only: no xz tool needed); return (core, sysroot)."""
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
    return core, skel


def committed_cores():
    base = os.path.join(TOP_SRCDIR, "corefiles")
    return sorted(os.path.join(base, d) for d in os.listdir(base)
                  if os.path.exists(os.path.join(base, d, "core.xz")))


def run_corefiles(tap):
    """The committed cores: outputs equal the oracle written when each was
    made, and CPython's ps/pstree taken from the live process then."""
    for d in committed_cores():
        name = os.path.basename(d)
        tmp = tempfile.mkdtemp(prefix="pyag-golden-")
        try:
            core, skel = extract_corefile(d, tmp)
            oracle = json.load(open(os.path.join(d, "oracle.json")))

            def out(args):
                p = subprocess.run([CLI] + args + ["--core", core, "--sysroot", skel],
                                   capture_output=True, timeout=120)
                return p.stdout.decode("utf-8", "replace")
            label = "corefiles/" + name
            if name.startswith("abort-"):
                want = {t["id"]: t["callgraph"] for t in oracle["tasks"]}
                blocks = split_blocks(out(["--format=callgraph"]))
                bad = [i for i, text in want.items() if blocks.get(i) != text]
                tap.ok(want and not bad, "%s: callgraph of the %d waiting tasks"
                       % (label, len(want)))
            else:
                check_callgraph(tap, label, out(["--format=callgraph"]), oracle)
                check_json(tap, label, out(["--format=json"]), oracle)
            tid = next(iter(oracle.get("current") or {}), None)
            if tid:
                check_current(tap, label, out(["--current", "--format=callgraph",
                                               "--thread=%s" % tid]), oracle, tid)
            scen, _, python = name.rpartition("-")
            known = KNOWN_CPYTHON_DIFFERENCES.get((python, scen))
            for fname, fmt in (("ps.txt", "table"), ("pstree.txt", "tree")):
                path = os.path.join(d, fname)
                if not os.path.exists(path):
                    continue
                ours = out(["--format=" + fmt])
                theirs = open(path, encoding="utf-8").read()
                desc = "%s: --format=%s equals the %s taken when it was made" % (
                    label, fmt, fname)
                if ours != theirs and known:
                    tap.skip(desc, "known CPython difference: " + known)
                else:
                    tap.ok(ours == theirs, desc, first_diff(ours, theirs))
        except Exception as e:
            tap.ok(False, "corefiles/%s: runs" % name, e)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def run_alloc_failures(tap, formats=("json", "tree", "callgraph", "table", "dot")):
    """Each allocation site of the library made to fail once (a build with
    --enable-fault-injection): every run ends in the full output, in the
    output with a warning that an optional part (the DWARF cross-check)
    ran out of memory, or in one clear "out of memory" error line; never a
    crash, a sanitizer report or a silently shorter output."""
    config = os.path.join(TOP_BUILDDIR, "config.h")
    if "#define PYAG_FAULT_INJECTION 1" not in open(config).read():
        tap.skip("allocation failures", "built without --enable-fault-injection")
        return
    for d in committed_cores():
        name = os.path.basename(d)
        if name not in ("gather-3.14", "agen-3.14", "futures-3.15"):
            continue
        tmp = tempfile.mkdtemp(prefix="pyag-alloc-")
        try:
            core, skel = extract_corefile(d, tmp)
            for fmt in formats:
                args = [CLI, "--format=" + fmt, "--stats", "--core", core, "--sysroot", skel]

                def run(k):
                    env = dict(os.environ, PYAG_FAIL_SITE=str(k), PYAG_NO_CACHE="1")
                    return subprocess.run(args, capture_output=True, timeout=120, env=env)
                ref = run(0)
                m = re.search(rb"fault-injection: (\d+) allocation sites", ref.stderr)
                if ref.returncode != 0 or not m:
                    tap.ok(False, "alloc/%s/%s: reference run" % (name, fmt),
                           ref.stderr.decode("utf-8", "replace")[-500:])
                    continue
                sites = int(m.group(1))
                bad, full, warned, errors = [], 0, 0, 0
                for k in range(1, sites + 1):
                    p = run(k)
                    err = p.stderr.decode("utf-8", "replace")
                    lines = [ln for ln in err.splitlines()
                             if not ln.startswith(("stats:", "warning:"))]
                    if p.returncode == 0 and p.stdout == ref.stdout:
                        full += 1
                    elif p.returncode == 0 and re.search(r"^warning: .*out of memory",
                                                         err, re.M):
                        warned += 1   # an optional part (DWARF), said so
                    elif (p.returncode == 1 and len(lines) == 1 and
                          lines[0].startswith("py-async-graph: ") and
                          "out of memory" in lines[0]):
                        errors += 1
                    else:
                        bad.append("site %d: exit %d: %s" % (k, p.returncode, err[-300:]))
                tap.ok(sites > 10 and not bad,
                       "alloc/%s/%s: %d allocation sites failed one at a time: "
                       "%d full outputs, %d with an out-of-memory warning, "
                       "%d out-of-memory errors"
                       % (name, fmt, sites, full, warned, errors), "\n".join(bad[:3]))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def run_corrupted(tap, count=1000, seed=20261124):
    """Truncated cores and cores with flipped bits: every run ends quickly
    with output or a clear error; no crash, no hang, no runaway memory."""
    import random
    import resource
    rng = random.Random(seed)
    cores = committed_cores()
    if not cores:
        tap.skip("corrupted cores", "no committed cores")
        return
    tally = {"output": 0, "error": 0, "crash": 0, "hang": 0}
    worst = []
    tmp = tempfile.mkdtemp(prefix="pyag-corrupt-")

    def limits():
        # runaway memory fails the run (AddressSanitizer maps terabytes of
        # shadow memory: no address-space limit under it)
        if "ASAN_OPTIONS" not in os.environ:
            resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        bases = []
        for i, d in enumerate(cores):
            sub = os.path.join(tmp, str(i))
            os.makedirs(sub)
            core, skel = extract_corefile(d, sub)
            bases.append((open(core, "rb").read(), skel))
        bad_core = os.path.join(tmp, "bad.core")
        for n in range(count):
            data, skel = bases[n % len(bases)]
            data = bytearray(data)
            if n % 2 == 0:
                data = data[:rng.randrange(0, len(data))]          # truncated
            else:
                for _ in range(rng.choice((1, 8, 64, 512))):       # bit flips
                    k = rng.randrange(0, len(data))
                    data[k] ^= 1 << rng.randrange(8)
            with open(bad_core, "wb") as f:
                f.write(data)
            fmt = ("callgraph", "json", "tree", "table", "dot")[n % 5]
            try:
                p = subprocess.run([CLI, "--format=" + fmt, "--core", bad_core,
                                    "--sysroot", skel], capture_output=True,
                                   timeout=20, preexec_fn=limits)
            except subprocess.TimeoutExpired:
                tally["hang"] += 1
                worst.append("case %d: hang" % n)
                continue
            if p.returncode < 0 or p.returncode > 2:
                tally["crash"] += 1
                worst.append("case %d: exit %d %s" % (n, p.returncode, p.stderr[-200:]))
            elif p.returncode == 0:
                tally["output"] += 1
            else:
                err = p.stderr.decode("utf-8", "replace").strip().splitlines()
                if len(err) != 1 or not err[0].startswith("py-async-graph: "):
                    tally["crash"] += 1
                    worst.append("case %d: not one clear error line: %r" % (n, err[:3]))
                else:
                    tally["error"] += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tap.diag("corrupted cores: %d runs: %d with output, %d clear errors, "
             "%d crashes, %d hangs" % (count, tally["output"], tally["error"],
                                       tally["crash"], tally["hang"]))
    tap.ok(tally["crash"] == 0 and tally["hang"] == 0,
           "%d corrupted cores: zero crashes, zero hangs (%d output, %d errors)"
           % (count, tally["output"], tally["error"]), "\n".join(worst[:10]))


def run_errors(tap, runner):
    """Each failure has its own clear one-line message, and a usage error
    exit status 2; never a traceback or a crash."""
    root = runner.root

    def cli_fails(args, want, desc, exit_code=1, preexec=None):
        p = subprocess.run([CLI] + args, capture_output=True, timeout=120,
                           preexec_fn=preexec)
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        ok = (p.returncode == exit_code and len(err) == 1 and want in err[0])
        tap.ok(ok, "cli errors: %s" % desc, "exit %d, stderr %r" % (p.returncode, err))

    def start(argv):
        if root:
            argv = ["chroot", root] + argv
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        proc.stdout.readline()  # the program says when it is ready
        return proc

    cli_fails(["12abc"], "is not a process id", "a bad pid", exit_code=2)
    cli_fails(["4194000"], "no process with pid 4194000", "no such process")
    cli_fails(["--format=yaml", "1"], "unknown format 'yaml'", "a bad option", exit_code=2)
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        cli_fails([str(sleeper.pid)], "is not a Python process", "not a Python process")
        tmp = tempfile.mkdtemp(prefix="pyag-err-")
        core = make_core(sleeper.pid, tmp)
        if core:
            cli_fails(["--core", core], "no Python interpreter found in the core",
                      "the core of a non-Python process")
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        sleeper.kill()
    script = "import sys, time; print('ready', flush=True); time.sleep(600)"
    for python, args, want, desc in (
            ("3.13", [], "has no asyncio graph support in this version",
             "Python 3.13"),
            ("3.14", [], "asyncio is not loaded", "asyncio not loaded")):
        if not H.python_available(python, root):
            tap.skip("cli errors: %s" % desc, "python%s not installed" % python)
            continue
        proc = start(["/usr/bin/python" + python, "-c", script])
        try:
            cli_fails([str(proc.pid)], want, desc)
        finally:
            proc.kill()
            proc.wait()
    # no permission: an unprivileged user reading a root process
    proc = start(["/usr/bin/python3.14", "-c",
                  "import asyncio, time; print('ready', flush=True); time.sleep(600)"])

    def as_nobody():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    try:
        cli_fails([str(proc.pid)], "not permitted", "no permission (as user nobody)",
                  preexec=as_nobody)
    finally:
        proc.kill()
        proc.wait()
    p = subprocess.run([CLI, "--core", "/dev/null"], capture_output=True)
    tap.ok(p.returncode == 1 and b"not a core file" in p.stderr,
           "cli errors: an empty file as core", p.stderr)


def run_gdb_conventions(tap, runner, python="3.14"):
    """What a gdb user expects: help with examples, completion, settings
    that give the defaults, gdb's own debug-file-directory, and gdb's
    colours when it styles its output (the text unchanged otherwise)."""
    if not H.python_available(python, runner.root):
        tap.skip("gdb conventions", "python%s not installed" % python)
        return
    label = "gdb %s conventions" % python
    decoy = tempfile.mkdtemp(prefix="pyag-debugdir-")
    try:
        with H.Scenario("gather", python=python, root=runner.root) as scen:
            oracle = scen.oracle
            # gdb's debug-file-directory is where the DWARF comes from: a
            # directory of our own holding (a link to) the interpreter's
            # debug file must be the one used
            root = runner.root or ""
            build_dir = os.path.join(root + "/usr/lib/debug", ".build-id")
            exe = os.path.realpath(root + "/usr/bin/python" + python)
            bid = subprocess.run(["readelf", "-n", exe], capture_output=True,
                                 text=True).stdout
            m = re.search(r"Build ID: ([0-9a-f]+)", bid)
            linked = None
            if m:
                rel = os.path.join(m.group(1)[:2], m.group(1)[2:] + ".debug")
                if os.path.exists(os.path.join(build_dir, rel)):
                    linked = os.path.join(decoy, ".build-id", rel)
                    os.makedirs(os.path.dirname(linked))
                    os.symlink(os.path.join(build_dir, rel), linked)
            cmds = ["help py-async-graph",                        # 0
                    "py-async-graph --format=callgraph",          # 1
                    "py-async-graph --format=callgraph --limit=0",  # 2
                    "set py-async-graph format callgraph",        # 3
                    "show py-async-graph format",                 # 4
                    "py-async-graph",                             # 5 = 1
                    "set py-async-graph limit 0",                 # 6
                    "py-async-graph",                             # 7 = 2
                    "set py-async-graph limit unlimited",         # 8
                    "set py-async-graph format tree",             # 9
                    "complete py-async-graph --current --format=c",  # 10
                    "set debug-file-directory " + decoy,          # 11
                    "py-async-graph --stats --layout=dwarf",      # 12
                    "py-async-graph --format=tree"]               # 13
            res, err = runner.gdb(python, cmds, pid=scen.pid)
            styled, _ = runner.gdb(python, ["py-async-graph --format=callgraph",
                                            "py-async-graph --format=tree"],
                                   pid=scen.pid, env={"PYAG_GDB_STYLE": "always"})
    finally:
        shutil.rmtree(decoy, ignore_errors=True)
    tap.ok("Examples:" in res[0] and "--format" in res[0] and "--limit" in res[0],
           "%s: help py-async-graph has examples and the options" % label, res[0][:500])
    check_callgraph(tap, label + ": the callgraph", res[1], oracle)
    tap.ok(res[5] == res[1] and "callgraph" in res[4],
           "%s: set py-async-graph format callgraph is the default format" % label,
           first_diff(res[5], res[1]))
    tap.ok(res[7] == res[2] and res[2] != res[1],
           "%s: set py-async-graph limit 0 is the default --limit" % label,
           first_diff(res[7], res[2]))
    tap.ok(res[10].splitlines() == ["py-async-graph --current --format=callgraph",
                                    "py-async-graph --current --format=csv"],
           "%s: options complete (--format=c: callgraph, csv)" % label, res[10])
    if linked:
        tap.ok(("DWARF from " + linked) in err,
               "%s: the DWARF comes from gdb's debug-file-directory" % label,
               "\n".join(l for l in err.splitlines() if "stats" in l))
    else:
        tap.skip("%s: gdb's debug-file-directory" % label, "no debug file installed")
    plain = {"callgraph": res[1], "tree": res[13]}
    for i, fmt in enumerate(("callgraph", "tree")):
        text = styled[i]
        stripped = re.sub(r"\x1b\[[0-9;]*m", "", text)
        tap.ok("\x1b[" in text and stripped == plain[fmt] and "\x1b[" not in plain[fmt],
               "%s: --format=%s in gdb's colours when styling is on, the same "
               "text without them" % (label, fmt), first_diff(stripped, plain[fmt]))


def run_torn(tap, runner, python="3.14", runs=40):
    """A process whose tasks change all the time. The default mode stops its
    threads: every read is consistent and the process runs on afterwards.
    --no-stop reads it running: every run still ends with a graph (valid
    JSON, no dangling awaited-by) and either no warning or the warning that
    the reads were torn."""
    if not H.python_available(python, runner.root):
        tap.skip("torn reads", "python%s not installed" % python)
        return
    src = os.path.join(TOP_SRCDIR, "tests", "integration", "churn.py")
    tmp = tempfile.mkdtemp(prefix="pyag-churn-", dir=os.path.join(runner.root or "/", "tmp"))
    shutil.copy(src, tmp)
    inner = tmp[len(runner.root):] if runner.root else tmp
    argv = ["/usr/bin/python" + python, os.path.join(inner, "churn.py")]
    if runner.root:
        argv = ["chroot", runner.root] + argv
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    tally = {"stopped": 0, "stopped_warn": 0, "clean": 0, "retried": 0,
             "torn": 0, "bad": []}
    try:
        proc.stdout.readline()

        def graph(args):
            p = subprocess.run([CLI, "--format=json", "--stats"] + args +
                               [str(proc.pid)], capture_output=True, timeout=60)
            err = p.stderr.decode("utf-8", "replace")
            if p.returncode != 0:
                tally["bad"].append("exit %d: %s" % (p.returncode, err[-300:]))
                return None, err
            try:
                doc = json.loads(p.stdout)
            except ValueError as e:
                tally["bad"].append("not JSON: %s" % e)
                return None, err
            ids = {t["id"] for t in doc["tasks"]}
            dangling = [a for t in doc["tasks"] for a in t["awaited_by"] if a not in ids]
            if dangling:
                tally["bad"].append("dangling awaited-by %r" % dangling[:3])
            return doc, err

        for _ in range(runs // 2):
            doc, _ = graph([])
            if doc is not None:
                tally["stopped"] += 1
                if doc["warnings"]:
                    tally["stopped_warn"] += 1
                    tally["bad"].append("stopped read warns: %r" % doc["warnings"][:2])
        for _ in range(runs):
            doc, err = graph(["--no-stop"])
            if doc is None:
                continue
            if "read 2 times" in err or "read 3 times" in err:
                tally["retried"] += 1
            if not doc["warnings"]:
                tally["clean"] += 1
            elif any("ran while it was read" in w for w in doc["warnings"]):
                tally["torn"] += 1
            else:
                tally["bad"].append("warnings without the torn-read warning: %r"
                                    % doc["warnings"][:2])
        with open("/proc/%d/stat" % proc.pid) as f:
            state = f.read().rpartition(")")[2].split()[0]
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    tap.diag("torn reads: stopped: %d consistent of %d; --no-stop: %d clean, "
             "%d after a retry, %d reported torn, of %d"
             % (tally["stopped"] - tally["stopped_warn"], runs // 2,
                tally["clean"], tally["retried"], tally["torn"], runs))
    tap.ok(tally["stopped"] == runs // 2 and not tally["stopped_warn"],
           "torn reads: stopping the threads gives %d consistent graphs of a "
           "churning process" % (runs // 2), "\n".join(tally["bad"][:5]))
    tap.ok(not tally["bad"] and tally["clean"] + tally["torn"] == runs,
           "torn reads: --no-stop on a churning process: %d graphs, each clean "
           "or reported torn" % runs, "\n".join(tally["bad"][:5]))
    tap.ok(state not in ("t", "T"), "torn reads: the process runs after the "
           "reads (state %s)" % state)


def check_cycle_tree(tap, runner, label, pid, oracle):
    """CPython refuses to draw a cyclic graph; we draw it, mark the back
    edges, list the cycles, warn, and exit 0."""
    out, err, rc = runner.cli(["--format=tree"], pid=pid, check=False)
    tap.ok(rc == 0 and "<- await cycle" in out and "\ncycle: " in out and
           "cycle" in err, "%s live: --format=tree draws the cycle, lists it, warns, "
           "exits 0" % label, "exit %d\n%s\n%s" % (rc, out[-800:], err))


def check_csv(tap, runner, label, pid, table):
    """--format=csv has the table's rows and columns."""
    import csv
    import io
    out = runner.cli(["--format=csv"], pid=pid)[0]
    rows = list(csv.reader(io.StringIO(out)))
    ids = [r[1] for r in rows[1:]]
    want = [line.split()[1] for line in table.splitlines()[2:]]
    tap.ok(rows and rows[0][0] == "tid" and len(rows[0]) == 7 and ids == want,
           "%s live: --format=csv has the table's rows" % label,
           "%r vs %r" % (ids[:5], want[:5]))


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else "cli"
    tap = Tap()
    if kind == "alloc":
        run_alloc_failures(tap)
        tap.done()
        return 0
    if kind == "corefiles":
        run_corefiles(tap)
        run_corrupted(tap, count=int(os.environ.get("PYAG_CORRUPT_COUNT", "1000")))
        tap.done()
        return 0
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
    if kind == "gdb" and not os.environ.get("PYAG_SCENARIOS"):
        run_gdb_conventions(tap, runner)
    if kind == "cli" and not os.environ.get("PYAG_SCENARIOS"):
        run_errors(tap, runner)
        run_torn(tap, runner)
    pythons = os.environ.get("PYAG_PYTHONS", "3.14 3.15").split()
    only = os.environ.get("PYAG_SCENARIOS", "").split()
    for python in pythons:
        for name in H.list_scenarios(python):
            if only and name not in only:
                continue
            run_scenario(tap, runner, python, name, cores=True)
        if not only:
            run_kernel_core(tap, runner, python)
    # the Py_DEBUG interpreter of python3.14-dbg: other object layouts
    if kind == "cli" and not only and H.python_available("3.14d", runner.root):
        for name in ("taskgroups", "gather", "agen"):
            run_scenario(tap, runner, "3.14d", name, cores=False)
    tap.done()
    return 0


if __name__ == "__main__":
    sys.exit(main())
