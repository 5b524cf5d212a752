#!/usr/bin/env python3
"""Integration tests against real interpreters and the in-process oracle.

Every scenario of tests/scenarios runs under python3.14 and python3.15; the
front end under test reads it live and from a gcore of it, and its output
must equal what the scenario itself wrote with asyncio.format_call_graph()
and capture_call_graph() (the oracle), and CPython's own `python -m asyncio
ps/pstree` where those tools are right.

    integration.py cli        the py-async-graph command (cli.test)
    integration.py gdb        the gdb command (gdb.test)
    integration.py lldb       the lldb plugin's `async graph` (lldb.test)
    integration.py threads    the thread report of every front end (threads.test)
    integration.py waiting    what each task waits on, and the loops, through
                              every front end (waiting.test)
    integration.py corefiles  the committed cores, and corrupted variants
                              ($PYAG_CORRUPT_COUNT for each of 3.11/3.12,
                              3.13 and 3.14+)
    integration.py alloc      allocation failures, on the committed cores
    integration.py interpreters  two interpreters in one process
                              (the subinterpreters scenario, interpreters.test)

The pieces are in tests/harness: pyag_harness.py (scenarios, cores, TAP),
pyag_oracle.py (the checks against the oracle), pyag_frontends.py (the
front ends, one interface, and the scenario runner); this file holds what
only some front ends are asked, and the plan of each test.

Output is TAP. Environment: top_srcdir, top_builddir (set by make check),
GDB, LLDB, PYAG_ROOT (the sid root filesystem, when run on the host),
PYAG_QUICK=1 to skip (used by distcheck), PYAG_SCENARIOS / PYAG_PYTHONS to
narrow the run, PYAG_LLDB_FULL=1 to read every scenario through lldb's own
memory reads too.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "harness"))

import pyag_harness as H  # noqa: E402
import pyag_oracle as O  # noqa: E402
import pyag_frontends as F  # noqa: E402
import pyag_threads as P  # noqa: E402
import pyag_waiting as W  # noqa: E402

from pyag_frontends import CLI, TOP_BUILDDIR, TOP_SRCDIR  # noqa: E402
from pyag_harness import Tap  # noqa: E402
# what corefiles/make-cores uses from here (with check_corefile: the same
# checks as the tests)
from pyag_harness import kernel_core, make_core  # noqa: E402,F401


def front_end(kind):
    """The front end `kind` ("cli", "gdb", "lldb") for the scenarios: in
    the sid root filesystem when run on the host."""
    return F.FRONT_ENDS[kind](root=H.default_root())


# ---------------------------------------------------------------------------
# what only the command and gdb are asked of a live process

def live_checks(tap, fe, label, scen, outs):
    """After the oracle's checks (pyag_frontends.run_scenario): CPython's
    tools, Graphviz, the layouts; for the command also csv, the cycle tree
    and that it writes nothing."""
    check_cpython_tools(tap, fe, label, scen.python, scen.name, scen.pid, outs)
    check_dot(tap, label + " live", outs.dot)
    check_layouts(tap, fe, label, scen.pid, scen.oracle, outs.json)
    if fe.kind == "cli":
        check_csv(tap, fe, label, scen.pid, outs.table)
        if scen.oracle.get("cycles"):
            check_cycle_tree(tap, fe, label, scen.pid)
        if scen.name in ("taskgroups", "gather"):
            check_no_writes(tap, fe, label, scen.pid)


def check_cpython_tools(tap, fe, label, python, name, pid, outs):
    """--format=table / tree against python3.X -m asyncio ps / pstree on the
    same live process."""
    known = O.KNOWN_CPYTHON_DIFFERENCES.get((python, name))
    if tuple(int(x) for x in H.python_version(python).split(".")) < (3, 14):
        tap.skip("%s live: --format=table/tree equal python -m asyncio ps/pstree" % label,
                 "python -m asyncio ps and pstree exist from 3.14 on")
        return
    for tool, fmt, text in (("ps", "table", outs.table), ("pstree", "tree", outs.tree)):
        p = H.run_in_root(["/usr/bin/python" + python, "-m", "asyncio", tool, str(pid)],
                          root=fe.root, timeout=300)
        theirs = p.stdout.decode("utf-8", "replace")
        desc = "%s live: --format=%s equals python%s -m asyncio %s" % (label, fmt, python, tool)
        if p.returncode != 0 or text != theirs:
            if known:
                tap.skip(desc, "known CPython difference: " + known)
                continue
            diag = ("%s exited %d: %s" % (tool, p.returncode, str(p.stderr)[-300:])
                    if p.returncode else O.first_diff(text, theirs))
            tap.ok(False, desc, diag)
        else:
            tap.ok(True, desc)


def fe_python(label):
    """The python spec in a check's label ("cli pyenv:3.12 gather")."""
    return label.split()[1]


def has_debug_file(root, exe):
    """Whether the interpreter exe (its path as seen from here) carries
    DWARF itself (python3.14d) or its separate debug file is installed
    under root's /usr/lib/debug/.build-id."""
    try:
        p = subprocess.run(["readelf", "-n", "-S", "-W", os.path.realpath(exe)],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    if re.search(r"\s\.debug_info\s", p.stdout):
        return True
    m = re.search(r"Build ID: ([0-9a-f]{2})([0-9a-f]+)", p.stdout)
    return bool(m) and os.path.exists("%s/usr/lib/debug/.build-id/%s/%s.debug"
                                      % (root or "", m.group(1), m.group(2)))


def check_layouts(tap, fe, label, pid, oracle, default_json):
    """Layouts from DWARF alone and from the debug offsets alone give the
    oracle's graph too; by default both are used and agree (no drift)."""
    doc = json.loads(default_json)
    has_dbg = has_debug_file(fe.root, H.python_executable(fe_python(label), fe.root) or "")
    drift = [w for w in doc["warnings"] if "drift" in w or "DWARF" in w]
    # 3.11 and 3.12 publish no debug offsets: the built-in table's
    version = tuple(int(x) for x in H.python_version(fe_python(label)).split("."))
    want_layout = "built-in+dwarf" if version < (3, 13) else "debug-offsets+dwarf"
    has_dbg = has_dbg or H.parse_python(fe_python(label)).kind == "pyenv"
    if has_dbg:
        tap.ok(doc["target"]["layout"] == want_layout and not drift,
               "%s live: layout from debug offsets and DWARF, no drift" % label,
               "layout %r, warnings %r" % (doc["target"]["layout"], drift))
    else:
        want_layout = want_layout.replace("+dwarf", "")
        tap.ok(doc["target"]["layout"] == want_layout and not drift,
               "%s live: no debug information: the layout is %s" % (label, want_layout),
               "layout %r, warnings %r" % (doc["target"]["layout"], drift))
    if fe.kind != "cli":
        return
    for mode in ("offsets", "dwarf"):
        if mode == "dwarf" and not has_dbg:
            tap.skip("%s live: --layout=dwarf" % label, "no debug info installed")
            continue
        run = fe.cli(["--layout=" + mode, "--format=callgraph"], pid=pid)
        O.check_callgraph(tap, "%s live --layout=%s" % (label, mode), run.stdout, oracle,
                          run.stderr)


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


def check_no_writes(tap, fe, label, pid):
    """The target is stopped (SIGSTOP: it cannot change its own memory); its
    writable memory must be the same before and after we read it."""
    import signal
    os.kill(pid, signal.SIGSTOP)
    try:
        before, size = writable_memory_digest(pid)
        for fmt in ("tree", "callgraph", "json", "table"):
            fe.cli(["--format=" + fmt], pid=pid)
        fe.cli(["--format=json", "--no-stop"], pid=pid)
        after, _ = writable_memory_digest(pid)
    finally:
        os.kill(pid, signal.SIGCONT)
    tap.ok(before == after and size > 0, "%s live: the target's %d bytes of "
           "writable memory are unchanged after reading it" % (label, size),
           "digest before %s, after %s" % (before, after))


def check_cycle_tree(tap, fe, label, pid):
    """CPython refuses to draw a cyclic graph; we draw it, mark the back
    edges, list the cycles, warn, and exit 0."""
    run = fe.cli(["--format=tree"], pid=pid, check=False)
    tap.ok(run.returncode == 0 and "<- await cycle" in run.stdout and
           "\ncycle: " in run.stdout and "cycle" in run.stderr,
           "%s live: --format=tree draws the cycle, lists it, warns, exits 0" % label,
           "exit %d\n%s\n%s" % (run.returncode, run.stdout[-800:], run.stderr))


def check_csv(tap, fe, label, pid, table):
    """--format=csv has the table's rows and columns."""
    import csv
    import io
    out = fe.cli(["--format=csv"], pid=pid).stdout
    rows = list(csv.reader(io.StringIO(out)))
    ids = [r[1] for r in rows[1:]]
    # the table's rows: with several interpreters, one table under each
    # "Interpreter N:" header (csv: one header, one table)
    want = [f[1] for f in (line.split() for line in table.splitlines())
            if len(f) > 1 and f[1].startswith("0x")]
    tap.ok(rows and rows[0][0] == "tid" and len(rows[0]) == 7 and ids == want,
           "%s live: --format=csv has the table's rows" % label,
           "%r vs %r" % (ids[:5], want[:5]))


# ---------------------------------------------------------------------------
# cores the kernel wrote, cores committed to corefiles/

def run_kernel_core(tap, fe, python):
    label = "%s %s kernel core" % (fe.kind, python)
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    if pattern.startswith("|") or "/" in pattern:
        tap.skip(label, "kernel.core_pattern is %r; the test needs cores "
                 "written to the crashing process's directory" % pattern)
        return
    base = (fe.root or "") + "/var/tmp"
    tmp = tempfile.mkdtemp(prefix="pyag-kcore-", dir=base)
    try:
        kc = H.kernel_core(python, fe.root, tmp)
        if not tap.ok(kc.core is not None, "%s: the kernel wrote a core" % label):
            return
        outs = fe.outputs(python, fe.ask(kc.oracle, tasks=False), core=kc.core)
        # the oracle lists the waiting tasks only
        O.check_callgraph(tap, label, outs.callgraph, kc.oracle, outs.stderr,
                          tasks=kc.oracle["tasks"])
        doc = json.loads(outs.json)
        running = [t["id"] for t in doc["tasks"] if t["running"]]
        tap.ok(running == [kc.oracle["running"]], "%s: the aborting task is marked "
               "running" % label, "running: %r, expected %r" % (running, kc.oracle["running"]))
        for tid, text in sorted(outs.current.items()):
            O.check_current(tap, label, text, kc.oracle, tid, outs.stderr)
    except Exception as e:
        tap.ok(False, "%s: runs" % label, e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_corefiles(tap):
    """The committed cores: outputs equal the oracle written when each was
    made, and CPython's ps/pstree taken from the live process then."""
    for d in H.committed_cores():
        check_corefile(tap, d)


def corefile_thread(oracle):
    """The thread a core is read with --current for: the first blocked
    thread of its oracle, or None."""
    return next(iter(oracle.get("current") or {}), None)


def corefile_requests(tid):
    """What a committed core is read with: every format, and --current on
    thread tid; make-cores keeps what these read."""
    return ([["--format=" + f] for f in F.FORMATS] +
            ([["--current", "--format=callgraph", "--thread=%s" % tid]] if tid else []))


def check_corefile(tap, d):
    """One committed core, the directory d (of corefiles/, or the one
    corefiles/make-cores is about to commit): every format equals its
    oracle, no warning, and no read outside what the core was made for
    (reads.txt).  --format=table and tree equal the ps.txt and
    pstree.txt taken from the live process (3.14+), and the ps and pstree
    rebuilt from the oracle (pyag_oracle.oracle_ps) but for the order of
    rows (3.11-3.13, which have no such tool); where both exist and
    CPython's are right, the rebuilt ones equal CPython's, which checks
    the rebuilding."""
    name = os.path.basename(d)
    label = "corefiles/" + name
    scen, _, python = name.rpartition("-")
    tmp = tempfile.mkdtemp(prefix="pyag-golden-")
    try:
        committed = H.extract_corefile(d, tmp)
        with open(os.path.join(d, "oracle.json"), encoding="utf-8") as f:
            oracle = json.load(f)
        tid = corefile_thread(oracle)
        fe = F.Cli(root=committed.sysroot)
        # the core holds the bytes read when it was made, zeros around them
        kept = H.read_trace(os.path.join(d, "reads.txt"))
        outside = []
        for args in corefile_requests(tid):
            trace = os.path.join(tmp, "trace")
            fe.cli(args + ["--trace-reads=" + trace], core=committed.core, check=False)
            outside += [r for r in H.reads_outside(H.read_trace(trace), kept)
                        if r not in outside]
        tap.ok(not outside, "%s: every read is one the core was made for" % label,
               "reads outside reads.txt, which see zeros: regenerate the core "
               "(corefiles/make-cores BUILD_DIR %s)\n%s" % (name, "\n".join(outside[:5])))
        ask = F.Ask(("callgraph", "json", "table", "tree"), [tid] if tid else [],
                    None, [])
        outs = fe.outputs(python, ask, core=committed.core)
        if scen == "abort":
            # a kernel core: the oracle lists the waiting tasks only
            O.check_callgraph(tap, label, outs.callgraph, oracle, outs.stderr,
                              tasks=oracle["tasks"])
        else:
            O.check_callgraph(tap, label, outs.callgraph, oracle, outs.stderr)
            O.check_json(tap, label, outs.json, oracle, "core")
        for tid, text in outs.current.items():
            O.check_current(tap, label, text, oracle, tid, outs.stderr)
        warnings = sorted({ln for ln in outs.stderr.splitlines()
                           if ln.startswith("warning:")})
        tap.ok(not warnings, "%s: no warning" % label, "\n".join(warnings[:5]))
        known = O.KNOWN_CPYTHON_DIFFERENCES.get((python, scen))
        rebuilt = O.oracle_ps(oracle) if scen not in O.ORACLE_PS_GAPS else None
        for k, (fname, fmt, ours) in enumerate((("ps.txt", "table", outs.table),
                                                ("pstree.txt", "tree", outs.tree))):
            same = (O.same_rows, O.same_tree)[k]
            tool = fname[:-4]
            path = os.path.join(d, fname)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    theirs = f.read()
                desc = "%s: --format=%s equals the %s taken when it was made" % (
                    label, fmt, fname)
                if ours != theirs and known:
                    tap.skip(desc, "known CPython difference: " + known)
                else:
                    tap.ok(ours == theirs, desc, O.first_diff(ours, theirs))
                if rebuilt and not known:
                    tap.ok(same(rebuilt[k], theirs), "%s: the %s rebuilt from the oracle "
                           "equals %s but for the order of rows" % (label, tool, fname),
                           O.first_diff(rebuilt[k], theirs))
            elif rebuilt:
                tap.ok(same(ours, rebuilt[k]), "%s: --format=%s equals the %s rebuilt "
                       "from the oracle but for the order of rows" % (label, fmt, tool),
                       O.first_diff(ours, rebuilt[k]))
    except Exception as e:
        tap.ok(False, "%s: runs" % label, e)
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
    for d in H.committed_cores():
        name = os.path.basename(d)
        if name not in ("gather-3.14", "agen-3.14", "futures-3.15"):
            continue
        tmp = tempfile.mkdtemp(prefix="pyag-alloc-")
        try:
            core, skel = H.extract_corefile(d, tmp)
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
    """Truncated cores and cores with flipped bits, count of them for each
    family of the committed cores (the readers differ between them): every
    run ends quickly with output or a clear error; no crash, no hang, no
    runaway memory."""
    import random
    families = {}
    for d in H.committed_cores():
        version = tuple(map(int, os.path.basename(d).rpartition("-")[2].split(".")))
        families.setdefault(corrupt_family(version), []).append(d)
    if not families:
        tap.skip("corrupted cores", "no committed cores")
        return
    for name in sorted(families):
        corrupt_cores(tap, "%d corrupted %s cores" % (count, name), families[name],
                      count, random.Random("%d-%s" % (seed, name)))


def corrupt_family(version):
    """3.11/3.12: no debug offsets, edges rebuilt; 3.13: debug offsets,
    edges rebuilt; 3.14+: edges recorded."""
    if version >= (3, 14):
        return "3.14+"
    return "3.13" if version >= (3, 13) else "3.11/3.12"


def corrupt_cores(tap, label, cores, count, rng):
    """count runs of the command on corrupted variants of the committed
    cores (directories), in turn: one check and the tally."""
    import resource
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
            core, skel = H.extract_corefile(d, sub)
            bases.append((open(core, "rb").read(), skel))
        bad_core = os.path.join(tmp, "bad.core")
        for n in range(count):
            data, skel = bases[n % len(bases)]
            data = bytearray(data)
            # each core truncated and bit-flipped in turn
            if (n // len(bases)) % 2 == 0:
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
    tap.diag("%s (%s): %d with output, %d clear errors, %d crashes, %d hangs" % (
        label, ", ".join(os.path.basename(d) for d in cores), tally["output"],
        tally["error"], tally["crash"], tally["hang"]))
    tap.ok(tally["crash"] == 0 and tally["hang"] == 0,
           "%s: zero crashes, zero hangs (%d output, %d errors)"
           % (label, tally["output"], tally["error"]), "\n".join(worst[:10]))


def run_errors(tap, fe):
    """Each failure has its own clear one-line message, and a usage error
    exit status 2; never a traceback or a crash."""
    root = fe.root

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
    cli_fails(["--exe", "/bin/sh", "1"], "--exe applies to a core", "--exe without --core",
              exit_code=2)
    cli_fails(["--core", "/nonexistent.core", "--exe", "/nonexistent/python"],
              "--exe /nonexistent/python", "an --exe that does not exist")
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        cli_fails([str(sleeper.pid)], "is not a Python process", "not a Python process")
        tmp = tempfile.mkdtemp(prefix="pyag-err-")
        core = H.make_core(sleeper.pid, tmp)
        if core:
            cli_fails(["--core", core], "no Python interpreter found in the core",
                      "the core of a non-Python process")
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        sleeper.kill()
    script = "import sys, time; print('ready', flush=True); time.sleep(600)"
    for python, args, want, desc in (
            ("3.13", [], "asyncio is not loaded", "asyncio not loaded (3.13)"),
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
    # interpreters without debug offsets: 3.11 and 3.12 are found by their
    # symbols; 3.10 and older are named by the mapped interpreter's file,
    # one clear line; without asyncio, 3.11 and 3.12 say so
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for minor, want in ((12, r"asyncio is not loaded"),
                        (11, r"asyncio is not loaded"),
                        (10, r"Python 3\.10 has no asyncio graph support")):
        builds = sorted(glob.glob(os.path.join(pyenv, "versions", "3.%d.*" % minor)))
        exe = os.path.join(builds[-1], "bin", "python3") if builds else None
        if not exe or not os.path.exists(exe):
            tap.skip("cli errors: Python 3.%d" % minor,
                     "no pyenv build of 3.%d under %s" % (minor, pyenv))
            continue
        proc = subprocess.Popen([exe, "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            proc.stdout.readline()
            p = subprocess.run([CLI, str(proc.pid)], capture_output=True, text=True)
            lines = p.stderr.strip().splitlines()
            tap.ok(p.returncode == 1 and len(lines) == 1 and re.search(want, lines[0]),
                   "cli errors: Python 3.%d: %s" % (minor, want.replace("\\", "")),
                   "status %d, stderr %r" % (p.returncode, p.stderr[-500:]))
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


def run_torn(tap, fe, python="3.14", runs=40):
    """A process whose tasks change all the time. The default mode stops its
    threads: every read is consistent and the process runs on afterwards.
    --no-stop reads it running: every run still ends with a graph (valid
    JSON, no dangling awaited-by) and either no warning or the warning that
    the reads were torn."""
    if not H.python_available(python, fe.root):
        tap.skip("torn reads", "python%s not installed" % python)
        return
    src = os.path.join(TOP_SRCDIR, "tests", "integration", "churn.py")
    tmp = tempfile.mkdtemp(prefix="pyag-churn-", dir=os.path.join(fe.root or "/", "tmp"))
    shutil.copy(src, tmp)
    inner = tmp[len(fe.root):] if fe.root else tmp
    argv = ["/usr/bin/python" + python, os.path.join(inner, "churn.py")]
    if fe.root:
        argv = ["chroot", fe.root] + argv
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


# ---------------------------------------------------------------------------
# what a debugger's user expects

def run_gdb_conventions(tap, fe, python="3.14"):
    """What a gdb user expects: help with examples, completion, settings
    that give the defaults, gdb's own debug-file-directory, and gdb's
    colours when it styles its output (the text unchanged otherwise)."""
    if not H.python_available(python, fe.root):
        tap.skip("gdb conventions", "python%s not installed" % python)
        return
    label = "gdb %s conventions" % python
    decoy = tempfile.mkdtemp(prefix="pyag-debugdir-")
    try:
        with H.Scenario("gather", python=python, root=fe.root) as scen:
            oracle = scen.oracle
            # gdb's debug-file-directory is where the DWARF comes from: a
            # directory of our own holding (a link to) the interpreter's
            # debug file must be the one used
            linked = H.link_debug_file(python, fe.root, decoy)
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
            session = fe.session(python, cmds, pid=scen.pid)
            res, err = session.outputs, session.stderr
            styled = fe.session(python, ["py-async-graph --format=callgraph",
                                         "py-async-graph --format=tree"],
                                pid=scen.pid, env={"PYAG_GDB_STYLE": "always"}).outputs
    finally:
        shutil.rmtree(decoy, ignore_errors=True)
    tap.ok("Examples:" in res[0] and "--format" in res[0] and "--limit" in res[0],
           "%s: help py-async-graph has examples and the options" % label, res[0][:500])
    O.check_callgraph(tap, label + ": the callgraph", res[1], oracle)
    tap.ok(res[5] == res[1] and "callgraph" in res[4],
           "%s: set py-async-graph format callgraph is the default format" % label,
           O.first_diff(res[5], res[1]))
    tap.ok(res[7] == res[2] and res[2] != res[1],
           "%s: set py-async-graph limit 0 is the default --limit" % label,
           O.first_diff(res[7], res[2]))
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
               "text without them" % (label, fmt), O.first_diff(stripped, plain[fmt]))


LLDB_NO_PROCESS = "error: no process: attach to a Python process or load a core first"


def run_lldb_errors(tap, fe):
    """No process, a non-Python process: one clear error line each, and
    lldb goes on; help async graph has the syntax, options and examples."""
    # no process; lldb goes on with the next command
    s = fe.session([], ["async graph --format=callgraph", "async graph --help"],
                   stdin_commands=True)
    errors = [l for l in s.stderr.splitlines() if l.startswith("error:")]
    tap.ok(errors == [LLDB_NO_PROCESS], "no process: one clear error line",
           "stderr: %r" % s.stderr[-500:])
    tap.ok("--format=FORMAT" in (s.outputs[1] or ""),
           "lldb keeps working after the error (async graph --help)", s.stdout[-500:])
    s = fe.session([], ["help async graph"])
    text = s.outputs[0] or ""
    tap.ok("Syntax: async graph [OPTIONS] [TASK]" in text and "--current" in text
           and "Examples:" in text, "help async graph: syntax, options, examples",
           s.stdout[-800:])
    # a process that is not Python
    proc = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        s = fe.session(["-p", str(proc.pid)], ["async graph"], stdin_commands=True)
        want = "error: process %d is not a Python process" % proc.pid
        got = [l for l in s.stderr.splitlines() if l.startswith("error:")]
        tap.ok(got and got[0].startswith(want) and len(got) == 1,
               "not a Python process: one clear error line", "stderr: %r" % s.stderr[-500:])
    finally:
        proc.kill()
        proc.wait()


def run_lldb_debug_dirs(tap, fe, python="3.14"):
    """lldb's target.debug-file-search-paths is where the DWARF layout comes
    from: a directory of our own with (a link to) the interpreter's debug
    file must be the one used."""
    label = "lldb %s: settings set target.debug-file-search-paths" % python
    if not H.python_available(python, fe.root):
        tap.skip(label, "python%s not installed" % python)
        return
    decoy = tempfile.mkdtemp(prefix="pyag-lldb-debugdir-")
    try:
        linked = H.link_debug_file(python, fe.root, decoy)
        if not linked:
            tap.skip(label, "no debug file for python%s" % python)
            return
        with H.Scenario("gather", python=python, root=fe.root) as scen:
            s = fe.session(fe.target_args(python, pid=scen.pid),
                           ["settings set target.debug-file-search-paths " + decoy,
                            "async graph --stats --layout=dwarf --format=table"])
        tap.ok(("DWARF from " + linked) in s.stdout + s.stderr, label,
               "\n".join(l for l in (s.stdout + s.stderr).splitlines() if "stats" in l))
    finally:
        shutil.rmtree(decoy, ignore_errors=True)

# ---------------------------------------------------------------------------
# two interpreters in one process

THREAD_HEADER_RE = re.compile(r"^Thread (\d+)(?: '((?:[^'\\]|\\.)*)')?(?: \[comm '[^']*'\])? "
                              r"\(interpreter (\d+)\): ")
TREE_TASK_RE = re.compile(r"\(T\) (.*)$")


def interpreter_sections(text):
    """A tree or table with "Interpreter N:" headers: [(N, text under it)],
    in order; [] when the first line is no such header."""
    sections = []
    for line in text.splitlines(keepends=True):
        m = re.match(r"^Interpreter (\d+):\n$", line)
        if m:
            sections.append([int(m.group(1)), ""])
        elif sections:
            sections[-1][1] += line
    # a blank line separates two sections: it is not the section's
    return [(n, body[:-1] if body.endswith("\n\n") else body) for n, body in sections]


def check_interpreters(tap, label, python, scen, outs, pstree, ps):
    """One target (live or core) of the subinterpreters scenario, read by
    the command: outs {format: text}; pstree, ps: CPython's tools on the
    live process (they read only the newest interpreter)."""
    oracle = scen.oracle
    by_interp = {}
    for t in oracle["tasks"]:
        by_interp.setdefault(t["interpreter"], []).append(t)
    sub = max(by_interp)
    sub_tid = by_interp[sub][0]["native_thread_id"]
    main_tid = [th["native_thread_id"] for th in oracle["threads"] if th["main"]][0]
    tap.ok(sorted(by_interp) == [0, sub] and sub > 0 and
           {t["native_thread_id"] for t in by_interp[sub]} == {sub_tid} and sub_tid != main_tid,
           "%s: the oracle has tasks of interpreter 0 and interpreter %d, each on its "
           "own thread" % (label, sub), "interpreters %r" % sorted(by_interp))
    # json: every task with its interpreter and thread, nothing more, and
    # each interpreter's graph equals what that interpreter captured
    doc = json.loads(outs["json"])
    ours = {t["id"]: t for t in doc["tasks"]}
    problems = O.json_problems(doc, oracle)
    for t in oracle["tasks"]:
        o = ours.get(t["id"])
        if o and (o["interpreter"], o["native_thread_id"]) != (t["interpreter"],
                                                               t["native_thread_id"]):
            problems.append("%s %r: interpreter %s thread %s, oracle %s %s" % (
                t["id"], t["name"], o["interpreter"], o["native_thread_id"],
                t["interpreter"], t["native_thread_id"]))
    extra = set(ours) - {t["id"] for t in oracle["tasks"]}
    if extra:
        problems.append("not in the oracle: %s" % sorted(extra))
    for n, ts in sorted(by_interp.items()):
        got = sorted(t["id"] for t in doc["tasks"] if t["interpreter"] == n)
        if got != sorted(t["id"] for t in ts):
            problems.append("interpreter %d: tasks %r, oracle %r" % (
                n, got, sorted(t["id"] for t in ts)))
    tap.ok(not problems, "%s: json: %d tasks of interpreter 0 and %d of interpreter %d, "
           "each with its interpreter id and thread; each interpreter's graph equals its "
           "capture_call_graph" % (label, len(by_interp[0]), len(by_interp[sub]), sub),
           "\n".join(problems[:10]))
    states = sorted((th["native_thread_id"], th["interpreter"]) for th in doc["threads"])
    tap.ok(states == sorted([(main_tid, 0), (sub_tid, 0), (sub_tid, sub)]),
           "%s: json threads: the main thread, and thread %d in interpreter 0 and in "
           "interpreter %d" % (label, sub_tid, sub), "threads %r" % states)
    O.check_callgraph(tap, label, outs["callgraph"], oracle)
    # the tree: one section per interpreter, each with its own tasks
    sections = interpreter_sections(outs["tree"])
    ids = [n for n, _ in sections]
    names = {n: sorted(TREE_TASK_RE.search(l).group(1) for l in body.splitlines()
                       if TREE_TASK_RE.search(l)) for n, body in sections}
    want = {n: sorted(t["name"] for t in ts if t["kind"] == "task")
            for n, ts in by_interp.items()}
    tap.ok(sorted(ids) == [0, sub] and outs["tree"].startswith("Interpreter ") and
           names == want,
           "%s: --format=tree has the headers Interpreter 0: and Interpreter %d:, each "
           "over its own interpreter's trees (both have a Task-1)" % (label, sub),
           "sections %r\nnames %r\nwant %r\n%s" % (ids, names, want, outs["tree"][:1500]))
    # CPython's tools read only the newest interpreter: its section is theirs
    for fmt, theirs in (("tree", pstree), ("table", ps)):
        mine = dict(interpreter_sections(outs[fmt])).get(sub)
        tap.ok(mine is not None and mine == theirs,
               "%s: --format=%s under Interpreter %d: equals python%s -m asyncio %s (which "
               "reads only the newest interpreter)" % (label, fmt, sub, python,
                                                      "pstree" if fmt == "tree" else "ps"),
               O.first_diff(mine or "<no section>", theirs))
    # --format=threads: the thread that runs the subinterpreter, in each
    # interpreter, with that interpreter's tasks under its own header
    blocks = {}
    cur = None
    for line in outs["threads"].splitlines():
        m = THREAD_HEADER_RE.match(line)
        if m:
            cur = (int(m.group(1)), int(m.group(3)))
            blocks[cur] = []
        elif cur is not None:
            blocks[cur].append(line)
    got = {k: sorted(TREE_TASK_RE.search(l).group(1) for l in v if TREE_TASK_RE.search(l))
           for k, v in blocks.items()}
    want = {(main_tid, 0): want[0], (sub_tid, 0): [], (sub_tid, sub): want[sub]}
    tap.ok(got == want,
           "%s: --format=threads lists thread %d with (interpreter %d) and its tasks, "
           "and with (interpreter 0), no tasks" % (label, sub_tid, sub),
           "got %r\nwant %r\n%s" % (got, want, outs["threads"][:2000]))
    # --format=dot: every task is a node of one cluster, its thread's
    decl = re.findall(r'^    "(0x[0-9a-f]+)" \[label=', outs["dot"], re.M)
    dups = sorted(set(d for d in decl if decl.count(d) > 1))
    tap.ok(not dups and sorted(decl) == sorted(t["id"] for t in oracle["tasks"]),
           "%s: --format=dot declares each task once, in one cluster (a thread in "
           "two interpreters has one per interpreter)" % label,
           "declared more than once: %r" % dups)


def run_interpreters(tap, fe):
    """The subinterpreters scenario, live and from a gcore, through the
    command."""
    pythons = os.environ.get("PYAG_PYTHONS", "3.14 3.15").split()
    for python in pythons:
        label = "interpreters %s" % python
        if not H.python_available(python, fe.root):
            tap.skip(label, "no python%s" % python)
            continue
        if python not in H.scenario_versions("subinterpreters"):
            tap.skip(label, "the scenario runs on %s only" %
                     ", ".join(H.scenario_versions("subinterpreters")))
            continue
        why = H.subinterpreters_unavailable(python, fe.root)
        if why:
            tap.skip(label, why)
            continue
        formats = ("json", "callgraph", "tree", "table", "threads", "dot")
        try:
            with H.Scenario("subinterpreters", python=python, root=fe.root) as scen:
                live = {f: fe.cli(["--format=" + f], pid=scen.pid).stdout for f in formats}
                tools = [H.run_in_root(["/usr/bin/python" + python, "-m", "asyncio", tool,
                                        str(scen.pid)], fe.root, timeout=300)
                         for tool in ("pstree", "ps")]
                pstree, ps = (p.stdout.decode("utf-8", "replace") for p in tools)
                check_interpreters(tap, label + " live", python, scen, live, pstree, ps)
                # both interpreters have a Task-1: a name must name one task
                amb = fe.cli(["--format=callgraph", "Task-1"], pid=scen.pid, check=False)
                ids = sorted(t["id"] for t in scen.oracle["tasks"]
                             if t.get("name") == "Task-1")
                err = amb.stderr.strip().splitlines()
                tap.ok(amb.returncode == 2 and len(err) == 1 and len(ids) == 2 and
                       "2 tasks are named 'Task-1'" in err[0] and
                       all(i in err[0] for i in ids),
                       "%s: TASK Task-1 names two tasks: an error naming both" % label,
                       "status %d, stderr %r, Task-1s %r" % (amb.returncode, err, ids))
                tmp = tempfile.mkdtemp(prefix="pyag-interp-core-")
                try:
                    core = H.make_core(scen.pid, tmp, fe.root, fe.exe(python))
                    if not tap.ok(core is not None, "%s: gcore" % label):
                        continue
                    outs = {f: fe.cli(["--format=" + f], core=core).stdout for f in formats}
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                check_interpreters(tap, label + " core", python, scen, outs, pstree, ps)
                tap.ok(outs["tree"] == live["tree"] and outs["table"] == live["table"],
                       "%s core: tree and table equal the live ones" % label,
                       O.first_diff(outs["tree"] + outs["table"],
                                    live["tree"] + live["table"]))
        except Exception as e:
            tap.ok(False, "%s: runs" % label, e)


# ---------------------------------------------------------------------------
# every thread, not only its tasks

THREAD_REQUESTS = (["--format=json"], ["--format=threads"])


def requests_outputs(fe, python, requests, target):
    """What fe prints for each request (a list of arguments) of one target,
    in one session: ([text], stderr, [errors]); a text is None when its
    command failed (then each command is run on its own, to tell which)."""
    try:
        texts, stderr = fe.run_requests(python, list(requests), **target)
        return list(texts), stderr, []
    except Exception:
        pass
    texts, stderr, errors = [], "", []
    for r in requests:
        try:
            t, err = fe.run_requests(python, [r], **target)
            texts.append(t[0])
            stderr += err
        except Exception as e:
            texts.append(None)
            errors.append("%s: %s" % (" ".join(r), e))
    return texts, stderr, errors


def check_thread_target(tap, fe, python, kind, scen, truth, **target):
    label = "%s %s thread_report %s" % (fe.kind, python, kind)
    # the previous read stopped the process: see Scenario.wait_parked()
    scen.wait_parked()
    texts, stderr, errors = requests_outputs(fe, python, THREAD_REQUESTS, target)
    for (req, text), check in zip(zip(THREAD_REQUESTS, texts), (
            lambda t: P.check_json_threads(tap, label, t, truth, kind, pid=scen.pid),
            lambda t: P.check_text_threads(tap, label, t, truth, scen.oracle))):
        if text is None or not text.strip():
            # the front end's error lines, not the debugger's chatter
            said = [l for l in stderr.splitlines() if "py-async-graph" in l or
                    l.startswith("error:")]
            tap.ok(False, "%s: %s prints the report" % (label, req[0]),
                   "\n".join(errors + said) or O.tail(stderr, 1500))
        else:
            check(text)


def thread_syscalls(pid):
    """Each thread's comm and /proc/PID/task/TID/syscall (its stack
    pointer when blocked), for a diagnostic."""
    lines = []
    for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                sc = f.read().strip()
        except OSError as e:
            comm, sc = "?", str(e)
        lines.append("%s %s: %s" % (tid, comm, sc))
    return "\n".join(lines)


def run_thread_report(tap, pythons):
    """tests/scenarios/thread_report.py, read live and from a gcore by the
    command, gdb and lldb: every thread's name and Python stack in
    --format=json and --format=threads against the truth the process
    wrote about itself (threads.json; see pyag_threads.py)."""
    root = H.default_root()
    fes = [F.FRONT_ENDS[k](root=root) for k in ("cli", "gdb", "lldb")]
    for python in pythons:
        if not H.python_available(python, root):
            tap.skip("threads %s" % python, "no python%s" % python)
            continue
        usable = []
        for fe in fes:
            why = fe.unavailable_reason()
            if why:
                tap.skip("%s %s thread_report" % (fe.kind, python), why)
            else:
                usable.append(fe)
        if not usable:
            continue
        # under the root: the core is made by the root filesystem's gdb
        # (see pyag_harness.make_core() and core_lost_pages())
        tmp = tempfile.mkdtemp(prefix="pyag-threads-core-",
                               dir=os.path.join(root, "var/tmp") if root else None)
        try:
            with H.Scenario("thread_report", python=python, root=root) as scen:
                truth = scen.threads
                for fe in usable:
                    check_thread_target(tap, fe, python, "live", scen, truth, pid=scen.pid)
                if not H.find_gdb() and not (root and os.path.exists(root + "/usr/bin/gdb")):
                    tap.skip("%s thread_report core" % python, "no gdb to make a core")
                    continue
                # seen once in the sid root filesystem (gdb 18), not again in
                # many runs: one page of a thread stack lost.  A likely cause:
                # the gcore's own stop and resume makes the loop threads'
                # epoll_wait fail with EINTR and take the GIL, which may write
                # a page of their C stack for the first time, after the core.
                # The core is then made again once, the first loss printed.
                for attempt in (1, 2):
                    scen.wait_parked()
                    core = H.make_core(scen.pid, tmp, root, usable[0].exe(python))
                    if core is None:
                        break
                    lost = H.core_lost_pages(core, scen.pid)
                    if not lost or attempt == 2:
                        break
                    tap.diag("%s thread_report: gcore lost pages (page, mapping) %s; "
                             "threads:\n%s\nmaking it again" % (python, ", ".join(
                                 "%#x %#x" % a for a in lost), thread_syscalls(scen.pid)))
                    os.unlink(core)
                if not tap.ok(core is not None, "%s thread_report: gcore" % python):
                    continue
                if not tap.ok(not lost, "%s thread_report: the core holds every page of "
                              "the process's writable memory" % python,
                              "zeros in the core, data in the process (page, mapping): "
                              "%s\nthreads (tid, comm, /proc syscall: nr ... sp pc):\n%s\n"
                              "the core checks are not run" % (", ".join(
                                  "%#x %#x" % a for a in lost), thread_syscalls(scen.pid))):
                    continue
                for fe in usable:
                    check_thread_target(tap, fe, python, "core", scen, truth, core=core)
        except Exception as e:
            tap.ok(False, "threads %s: runs" % python, e)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# what each task waits on, and the loops

# the scenarios that write waiting.json, aiohttp's (the kernel's view) and
# blocked (a running task waits on nothing)
WAITING_SCENARIOS = ("waiting_primitives", "waiting_io", "deadlock", "busy",
                     "aiohttp_server", "blocked")
WAITING_TRUTH_ELSEWHERE = ("aiohttp_server", "blocked")
AIOHTTP_CLIENTS = ("client-0", "client-1", "client-2")


# read through lldb's own memory reads too (the plugin then has no pid)
WAITING_VIA_LLDB = ("waiting_primitives", "waiting_io")


def check_waiting_target(tap, fe, python, kind, scen, seen, via="", **target):
    """One target read by one front end: every request of W.REQUESTS, each
    checked against the scenario's truth.  seen: {} filled by the live
    aiohttp check (each client's fd and peer), compared with the core.
    via: a label suffix for target["env"] (" via lldb")."""
    label = "%s %s %s %s%s" % (fe.kind, python, scen.name, kind, via)
    clock = [time.monotonic()]
    texts, stderr, errors = requests_outputs(fe, python, W.REQUESTS, target)
    clock.append(time.monotonic())
    ran = {}
    for i, (req, text) in enumerate(zip(W.REQUESTS, texts)):
        if text is None or not text.strip():
            said = [l for l in stderr.splitlines() if "py-async-graph" in l or
                    l.startswith("error:")]
            mine = [e for e in errors if e.startswith(" ".join(req) + ":")]
            tap.ok(False, "%s: %s prints" % (label, " ".join(req)),
                   "\n".join(mine + said) or O.tail(stderr, 1500))
        else:
            ran[i] = text
    if 1 in ran:
        O.check_callgraph(tap, label, ran[1], scen.oracle, stderr)
    # a front end that reads a live process by its pid asks the kernel too
    # (a raw socket's peer); not through lldb's memory reads
    kernel = kind == "live" and not via
    if 0 in ran and scen.waiting:
        W.check_json_waiting(tap, label, ran[0], scen.waiting, kind, clock, kernel)
    if 0 in ran and scen.name == "blocked":
        W.check_running_not_waiting(tap, label, ran[0], scen.oracle)
    if 0 in ran and scen.name == "aiohttp_server":
        sockets = W.socket_fds(scen.pid)
        got = W.check_aiohttp_streams(tap, label, ran[0], sockets, AIOHTTP_CLIENTS)
        if kind == "live" and got and not seen:
            seen.update(got)
        elif kind == "core" and got is not None:
            tap.ok(len(seen) == len(AIOHTTP_CLIENTS) and got == seen,
                   "%s: the clients' fds and peers equal the live process's" % label,
                   "core %r, live %r" % (got, seen))
    if scen.waiting:
        W.check_texts(tap, label, ran, scen.waiting, scen.oracle, kind, kernel)


def run_waiting(tap, pythons):
    """The waiting scenarios, read live and from a gcore by the command,
    gdb and lldb: each task's awaited object and its state, and the loops,
    against the truth the process wrote about itself (waiting.json; see
    pyag_waiting.py); aiohttp's client streams against the kernel."""
    root = H.default_root()
    fes = [F.FRONT_ENDS[k](root=root) for k in ("cli", "gdb", "lldb")]
    only = os.environ.get("PYAG_SCENARIOS", "").split()
    for python in pythons:
        if not H.python_available(python, root):
            tap.skip("waiting %s" % python, "no python%s" % python)
            continue
        usable = []
        for fe in fes:
            why = fe.unavailable_reason()
            if why:
                tap.skip("%s %s waiting" % (fe.kind, python), why)
            else:
                usable.append(fe)
        if not usable:
            continue
        for name in WAITING_SCENARIOS:
            if only and name not in only:
                continue
            if H.python_version(python) not in H.scenario_versions(name):
                tap.skip("waiting %s %s" % (python, name), "the scenario runs on %s only"
                         % ", ".join(H.scenario_versions(name)))
                continue
            run_waiting_scenario(tap, usable, python, name, root)


def run_waiting_scenario(tap, fes, python, name, root):
    tmp = tempfile.mkdtemp(prefix="pyag-waiting-core-",
                           dir=os.path.join(root, "var/tmp") if root else None)
    try:
        with H.Scenario(name, python=python, root=root) as scen:
            if name not in WAITING_TRUTH_ELSEWHERE and not tap.ok(
                    scen.waiting is not None, "%s %s: the scenario writes "
                    "waiting.json" % (python, name)):
                return
            seen = {}
            via = [fe for fe in fes if fe.kind == "lldb" and name in WAITING_VIA_LLDB]
            lldb_read = {"PYAG_LLDB_READ": "lldb"}
            for fe in fes:
                check_waiting_target(tap, fe, python, "live", scen, seen, pid=scen.pid)
            for fe in via:
                check_waiting_target(tap, fe, python, "live", scen, seen, " via lldb",
                                     pid=scen.pid, env=lldb_read)
            if not H.find_gdb() and not (root and os.path.exists(root + "/usr/bin/gdb")):
                tap.skip("%s %s waiting core" % (python, name), "no gdb to make a core")
                return
            core = H.make_core(scen.pid, tmp, root, fes[0].exe(python))
            if not tap.ok(core is not None, "%s %s waiting: gcore" % (python, name)):
                return
            for fe in fes:
                check_waiting_target(tap, fe, python, "core", scen, seen, core=core)
            for fe in via:
                check_waiting_target(tap, fe, python, "core", scen, seen, " via lldb",
                                     core=core, env=lldb_read)
    except Exception as e:
        tap.ok(False, "waiting %s %s: runs" % (python, name), e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------

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
    if kind == "waiting":
        if not H.available():
            tap.skip("waiting", H.unavailable_reason())
        else:
            run_waiting(tap, os.environ.get("PYAG_PYTHONS", "3.14 3.15").split())
        tap.done()
        return 0
    if kind == "threads":
        if not H.available():
            tap.skip("thread report", H.unavailable_reason())
        else:
            run_thread_report(tap, os.environ.get("PYAG_PYTHONS", "3.14 3.15").split())
        tap.done()
        return 0
    fe = front_end("cli" if kind == "interpreters" else kind)
    why = fe.unavailable_reason()
    if why:
        tap.skip("%s integration" % kind, why)
        tap.done()
        return 0
    if kind == "lldb":
        run_lldb_errors(tap, fe)
    if not H.available():
        tap.skip("integration (%s)" % kind, H.unavailable_reason())
        tap.done()
        return 0
    if kind == "interpreters":
        run_interpreters(tap, fe)
        tap.done()
        return 0
    pythons = os.environ.get("PYAG_PYTHONS", "3.14 3.15").split()
    only = os.environ.get("PYAG_SCENARIOS", "").split()
    if not only:
        if kind == "gdb":
            run_gdb_conventions(tap, fe)
        if kind == "cli":
            run_errors(tap, fe)
            run_torn(tap, fe)
        if kind == "lldb":
            run_lldb_debug_dirs(tap, fe)
    checks = live_checks if kind in ("cli", "gdb") else None
    for python in pythons:
        if not H.python_available(python, fe.root):
            tap.skip("%s %s" % (kind, python), "no python%s" % python)
            continue
        for name in H.list_scenarios(python):
            if only and name not in only:
                continue
            F.run_scenario(tap, fe, python, name, cores=True, live_checks=checks)
        if not only and kind != "lldb" and ":" not in python and \
                tuple(map(int, H.python_version(python).split("."))) >= (3, 14):
            run_kernel_core(tap, fe, python)
        elif not only and kind != "lldb":
            tap.skip("%s %s kernel core" % (kind, python),
                     "the aborting program's oracle is 3.14's capture_call_graph")
    # the Py_DEBUG interpreter of python3.14-dbg: other object layouts
    if kind == "cli" and not only and H.python_available("3.14d", fe.root):
        for name in ("taskgroups", "gather", "agen"):
            F.run_scenario(tap, fe, "3.14d", name, cores=False, live_checks=checks)
    tap.done()
    return 0


if __name__ == "__main__":
    sys.exit(main())
