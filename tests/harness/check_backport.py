#!/usr/bin/env python3
"""The rebuilt call graph (tests/scenarios/_graph_backport.py) against the
real one, and the oracle on the interpreters that have no real one.

--self-check (default): every scenario on Debian's python3.14 with
    PYAG_ORACLE=both: the scenario writes oracle.json with asyncio's own
    capture_call_graph()/format_call_graph() and oracle-backport.json with
    the backport, from two children forked from the same parent (same
    objects, same ids); the two must be equal, task by task: ids, kinds,
    names, threads, awaited-by ids in their order, every call stack, the
    format_call_graph text, cycles, the running task's text.  Edges made by
    hand with future_add_to_awaited_by() leave no trace in the objects; the
    scenarios make them with _oracle.add_awaited_by(), which tells the
    backport (they are counted as "declared").
--cases: the documented differences (tests/scenarios/README.md, "Where
    the rebuilt graph differs from 3.14"), each rebuilt in a small program
    (backport_cases.py) on python3.14: each must differ from 3.14 exactly
    as documented, and its control (the same program without the twist)
    must not; and a few cases the scenarios leave out, which must not.
--legacy: every scenario on the interpreters without asyncio graph
    support (pyag_harness.LEGACY_SPECS: pyenv 3.11, 3.12, 3.13 of this
    machine, Debian's 3.13 of the root filesystem): the oracle is written,
    by the backport, with a text and a graph for every task (null only on
    a cycle), and the text of each task is the rendering of its graph;
    and its edges, between tasks labelled by name (an unnamed task by its
    outermost coroutine function: Task-N numbers differ between versions),
    are those of the same scenario's real graph on python3.14, but for the
    differences of the programs themselves (LEGACY_PROGRAM_DIFFERENCES).

Output: TAP; a missing interpreter is a SKIP with the reason.  Usage (from
the repository root, as root on the host, or inside the root filesystem):
    python3 tests/harness/check_backport.py [--self-check] [--cases]
        [--legacy] [--scenario NAME]... [--python SPEC]... [--jobs 2]
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pyag_harness as H  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TASK_KEYS = ("kind", "name", "interpreter", "native_thread_id", "running",
             "awaited_by_ids", "callgraph", "graph", "call_stack")
DOC_KEYS = ("scenario", "python", "hexversion", "pid", "threads", "cycles",
            "current")

# Where a scenario is another program on an older version, the edges the
# rebuilt graph has there and 3.14's real graph has not (or the reverse):
# (version, scenario) -> (why, edges only there, edges only on 3.14).
LEGACY_PROGRAM_DIFFERENCES = {
    ("3.11", "wait_for"): (
        "3.11's wait_for() with a timeout wraps a coroutine in a task, "
        "which the caller waits for",
        {("Task-?:Event.wait", "wait-for-coro"): 1,
         ("Task-?:wait_for", "wait-for-nested"): 1,
         ("Task-?:Event.wait", "Task-?:wait_for"): 1},
        {}),
    ("3.11", "waiting_primitives"): (
        "3.11's wait_for() with a timeout wraps a coroutine in a task, "
        "which the caller waits for",
        {("Task-?:Event.wait", "in-wait-for"): 1},
        {}),
}


# ---------------------------------------------------------------------------
# comparing two oracles

def first_diff(a, b):
    """Where two values first differ, as a short text."""
    if isinstance(a, str) and isinstance(b, str):
        la, lb = a.split("\n"), b.split("\n")
        for i in range(max(len(la), len(lb))):
            x = la[i] if i < len(la) else "<end>"
            y = lb[i] if i < len(lb) else "<end>"
            if x != y:
                return "line %d:\n    asyncio:  %r\n    backport: %r" % (i + 1, x, y)
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return "%s: %s" % (k, first_diff(a.get(k), b.get(k)))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return "[%d] %s" % (i, first_diff(x, y))
    return "asyncio %s, backport %s" % (json.dumps(a)[:300], json.dumps(b)[:300])


def oracle_problems(real, back):
    """How the backport's oracle differs from asyncio's: a list of texts."""
    problems = []
    for k in DOC_KEYS:
        if real.get(k) != back.get(k):
            problems.append("%s differs: %s" % (k, first_diff(real.get(k), back.get(k))))
    rt = {t["id"]: t for t in real["tasks"]}
    bt = {t["id"]: t for t in back["tasks"]}
    for i in rt.keys() - bt.keys():
        problems.append("%s (%s) only in asyncio's graph" % (i, rt[i].get("name")))
    for i in bt.keys() - rt.keys():
        problems.append("%s (%s) only in the backport's" % (i, bt[i].get("name")))
    for i in rt.keys() & bt.keys():
        for k in TASK_KEYS:
            if rt[i].get(k) != bt[i].get(k):
                problems.append("%s (%s) %s: %s" % (i, rt[i].get("name"), k,
                                                    first_diff(rt[i].get(k), bt[i].get(k))))
    return problems


def evidence_counts(back):
    c = collections.Counter()
    for t in back["tasks"]:
        c.update(t.get("awaited_by_evidence") or ())
    return c


def edges_text(counts):
    if not counts:
        return "no edges"
    return "%d edges: %s" % (sum(counts.values()), ", ".join(
        "%s %d" % (k, n) for k, n in sorted(counts.items())))


# ---------------------------------------------------------------------------
# the runs

def self_check_one(name, python, root, timeout):
    """(ok, description, diagnostic) for one scenario on python (3.14)."""
    with H.Scenario(name, python=python, root=root, timeout=timeout,
                    env={"PYAG_ORACLE": "both"}) as s:
        with open(os.path.join(s.out_dir, "oracle-backport.json"), encoding="utf-8") as f:
            back = json.load(f)
        real = s.oracle
    problems = oracle_problems(real, back)
    counts = evidence_counts(back)
    desc = "%s %s: the rebuilt graph equals asyncio's (%d tasks, %s)" % (
        python, name, len(real["tasks"]), edges_text(counts))
    diag = None
    if problems:
        diag = "%d differences:\n%s" % (len(problems), "\n".join(problems[:20]))
    return not problems, desc, diag


def text_of(graph):
    """format_call_graph's text for an oracle "graph" (the renderer of
    3.14's graph.py, on the JSON form)."""
    buf = []

    def level(g, n):
        ind = "    " * n
        if g["kind"] == "task":
            buf.append("%s* Task(name=%r, id=%s)" % (ind, g["name"], g["id"]))
        else:
            buf.append("%s* Future(id=%s)" % (ind, g["id"]))
        if g["call_stack"]:
            buf.append(ind + "  + Call stack:")
            for f in g["call_stack"]:
                buf.append("%s  |   File %r, line %d, in %s%s()" % (
                    ind, f["filename"], f["line"], f["kind"] + " " if f["kind"] else "",
                    f["function"]))
        if g["awaited_by"]:
            buf.append(ind + "  + Awaited by:")
            for a in g["awaited_by"]:
                level(a, n + 1)

    level(graph, 0)
    return "\n".join(buf)


def legacy_problems(oracle):
    """What is wrong with a legacy (backport) oracle."""
    problems = []
    if oracle.get("oracle") != "backport":
        problems.append("oracle is %r, not the backport" % oracle.get("oracle"))
    cyc = {i for c in oracle.get("cycles") or () for i in c}
    ids = {t["id"] for t in oracle["tasks"]}
    for t in oracle["tasks"]:
        if t["callgraph"] is None and not cyc:
            problems.append("%s (%s): no callgraph" % (t["id"], t["name"]))
            continue
        for w in t["awaited_by_ids"]:
            if w not in ids:
                problems.append("%s (%s): awaiter %s not listed" % (t["id"], t["name"], w))
        if len(t.get("awaited_by_evidence") or ()) != len(t["awaited_by_ids"]):
            problems.append("%s (%s): evidence %r for awaiters %r" % (
                t["id"], t["name"], t.get("awaited_by_evidence"), t["awaited_by_ids"]))
        if t["graph"] is not None and text_of(t["graph"]) != t["callgraph"]:
            problems.append("%s (%s): text is not its graph: %s" % (
                t["id"], t["name"], first_diff(text_of(t["graph"]), t["callgraph"])))
        if t["graph"] is not None and [a["id"] for a in t["graph"]["awaited_by"]] \
                != t["awaited_by_ids"]:
            problems.append("%s (%s): graph awaiters differ from awaited_by_ids" % (
                t["id"], t["name"]))
    return problems


def edge_label(t):
    """A task's name, or for an unnamed one (Task-N) its outermost
    coroutine function; "future" for a future."""
    if t["kind"] != "task":
        return "future"
    if not re.fullmatch(r"Task-\d+", t["name"] or ""):
        return t["name"]
    stack = (t.get("graph") or {}).get("call_stack") or t.get("call_stack") or []
    return "Task-?:" + (stack[-1]["function"] if stack else "?")


def labelled_edges(oracle):
    """The awaited-by edges as a multiset of (awaited, awaiter) labels."""
    lab = {t["id"]: edge_label(t) for t in oracle["tasks"]}
    return collections.Counter((lab[t["id"]], lab.get(w, "?"))
                               for t in oracle["tasks"] for w in t["awaited_by_ids"])


_references = {}
_references_lock = threading.Lock()


def reference_edges(name, root, timeout):
    """The labelled edges of the scenario's real graph on python3.14 (one
    run per scenario), or None without python3.14."""
    with _references_lock:
        if name not in _references:
            if H.unavailable_reason("3.14") or "3.14" not in H.scenario_versions(name):
                _references[name] = None
            else:
                with H.Scenario(name, python="3.14", root=root, timeout=timeout) as s:
                    _references[name] = labelled_edges(s.oracle)
        return _references[name]


def legacy_one(name, spec, root, timeout):
    with H.Scenario(name, python=spec, root=root, timeout=timeout) as s:
        oracle = s.oracle
    problems = legacy_problems(oracle)
    counts = evidence_counts(oracle)
    desc = "%s (%s) %s: oracle written by the backport (%d tasks, %s)" % (
        spec, oracle["python"], name, len(oracle["tasks"]), edges_text(counts))
    ref = reference_edges(name, root, timeout)
    if ref is not None:
        got = labelled_edges(oracle)
        why, extra, missing = LEGACY_PROGRAM_DIFFERENCES.get(
            (H.python_version(spec), name), (None, {}, {}))
        if got - ref != collections.Counter(extra) or ref - got != collections.Counter(missing):
            problems.append("edges by label differ from 3.14's real graph: only "
                            "here %s, only on 3.14 %s" % (dict(got - ref), dict(ref - got)))
        desc += ", edges as on 3.14" + (" but for: " + why if why else "")
    return not problems, desc, "\n".join(problems[:20]) or None


def run_cases(root, tap):
    """backport_cases.py on python3.14: one TAP line per case."""
    src = os.path.join(HERE, "backport_cases.py")
    backport = os.path.join(H.SCENARIOS_DIR, "_graph_backport.py")
    import shutil
    import tempfile
    base = os.path.join(root, "var", "tmp") if root else None
    tmp = tempfile.mkdtemp(prefix="pyag-cases-", dir=base)
    try:
        os.chmod(tmp, 0o755)
        shutil.copy(src, tmp)
        shutil.copy(backport, tmp)
        inner = "/" + os.path.relpath(tmp, root) if root else tmp
        p = H.run_in_root(["/usr/bin/python3.14", os.path.join(inner, "backport_cases.py")],
                          root, timeout=120, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        out = p.stdout.decode("utf-8", "replace")
        if p.returncode != 0:
            tap.ok(False, "backport_cases.py runs on python3.14",
                   out[-2000:] + p.stderr.decode("utf-8", "replace")[-2000:])
            return
        for line in out.splitlines():
            case = json.loads(line)
            want = case["expect"]
            got = "differs" if case["differs"] else "same"
            tap.ok(got == want, "3.14 case %s: %s (%s)" % (
                case["name"], case["doc"], "differs as documented" if want == "differs"
                else "equal"), "expected %s, got %s\nasyncio:  %s\nbackport: %s" % (
                    want, got, case["asyncio"], case["backport"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--cases", action="store_true")
    ap.add_argument("--legacy", action="store_true")
    ap.add_argument("--scenario", action="append")
    ap.add_argument("--python", action="append",
                    help="legacy interpreter specs (default: %s)" % " ".join(H.LEGACY_SPECS))
    ap.add_argument("--reference", action="append",
                    help="the interpreters with a real asyncio.graph the "
                    "self-check compares with (default: 3.14)")
    ap.add_argument("--jobs", "-j", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    if not (args.self_check or args.cases or args.legacy):
        args.self_check = args.cases = True
    names = args.scenario or H.list_scenarios()
    unknown = [n for n in names if n not in H.list_scenarios()]
    if unknown:
        ap.error("no such scenario: %s" % ", ".join(unknown))
    root = H.default_root()
    tap = H.Tap()

    jobs = []       # (description prefix, function, args)
    if args.self_check:
        for ref in args.reference or ["3.14"]:
            why = H.unavailable_reason(ref)
            if why:
                tap.skip("%s self-check of the rebuilt graph" % ref, why)
                continue
            for name in names:
                if H.python_version(ref) in H.scenario_versions(name):
                    jobs.append(("%s %s" % (ref, name), self_check_one,
                                 (name, ref, root, args.timeout)))
    if args.cases:
        why = H.unavailable_reason("3.14")
        if why:
            tap.skip("3.14 cases where the rebuilt graph differs", why)
        else:
            run_cases(root, tap)
    if args.legacy:
        for spec in args.python or H.LEGACY_SPECS:
            why = H.unavailable_reason(spec)
            if why:
                tap.skip("%s: the oracle on %s" % (spec, spec), why)
                continue
            for name in names:
                if H.python_version(spec) not in H.scenario_versions(name):
                    tap.skip("%s %s" % (spec, name), "the scenario needs Python %s" %
                             " or ".join(H.scenario_versions(name)))
                    continue
                jobs.append(("%s %s" % (spec, name), legacy_one,
                             (name, spec, root, args.timeout)))

    stop = threading.Event()

    def run(job):
        label, fn, fargs = job
        if stop.is_set():
            return False, label + ": not run (interrupted)", None
        try:
            return fn(*fargs)
        except H.ScenarioError as e:
            return False, label + ": the scenario ran", str(e)[-3000:]

    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as ex:
        try:
            for ok, desc, diag in ex.map(run, jobs):
                tap.ok(ok, desc, diag)
        except KeyboardInterrupt:
            stop.set()
            raise
    tap.done()
    return 1 if tap.failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
