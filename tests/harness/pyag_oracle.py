"""A front end's output against a scenario's in-process oracle, as TAP
checks.

The oracle (oracle.json, written by the scenario itself) holds, for every
task and future, asyncio.format_call_graph() text ("callgraph") and the
capture_call_graph() graph ("graph"), and for each thread blocked inside a
task, format_call_graph() there ("current").  The checks take the text a
front end printed (the CLI, gdb, lldb: see pyag_frontends.py) and a Tap
(pyag_harness.Tap).  Standard library only.
"""

import json
import re

# Where CPython's own tools are wrong (tests/scenarios/README.md, findings):
# the comparison is still made, and a difference is reported as a known one.
KNOWN_CPYTHON_DIFFERENCES = {
    ("3.14", "threads"): "3.14's ps/pstree read only the main thread's task list",
    ("3.14", "thread_report"): "3.14's ps/pstree read only the main thread's task list",
    ("3.14", "names"): "3.14's ps/pstree misread non-ASCII task names",
    ("3.14", "longnames"): "3.14's ps/pstree misread non-ASCII names and cut names at 255",
    ("3.15", "longnames"): "CPython's ps/pstree cut task names at 255 characters",
    ("3.14", "blocked"): "ps/pstree show only the outermost frame of a running task",
    ("3.15", "blocked"): "ps/pstree show only the outermost frame of a running task",
    ("3.14", "futures"): "ps/pstree stop at the first plain future",
    ("3.15", "futures"): "ps/pstree stop at the first plain future",
    ("3.14", "cycle"): "pstree refuses to draw a graph with a cycle",
    ("3.15", "cycle"): "pstree refuses to draw a graph with a cycle",
    ("3.14", "subinterpreters"): "ps/pstree read only the newest interpreter",
    ("3.15", "subinterpreters"): "ps/pstree read only the newest interpreter",
}


# ---------------------------------------------------------------------------
# texts

def split_blocks(text):
    """The whole-process callgraph: one block per task, each starting with
    an unindented '* ' header; blocks are separated by a blank line.
    {task id: block without its trailing newlines}."""
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


def first_diff(got, want):
    """Where two texts first differ, for a diagnostic."""
    a, b = got.splitlines(), want.splitlines()
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else "<end>"
        y = b[i] if i < len(b) else "<end>"
        if x != y:
            return "line %d:\n  got:    %r\n  oracle: %r" % (i + 1, x, y)
    return "equal" if got == want else "equal lines (trailing newline differs?)"


def tail(text, n):
    """The last n characters of a front end's stderr, for a diagnostic."""
    return (text or "")[-n:]


# ---------------------------------------------------------------------------
# the oracle

def oracle_tasks(oracle):
    """The tasks and futures the oracle has format_call_graph() text for."""
    return [t for t in oracle["tasks"] if t.get("callgraph") is not None]


def waiting_tasks(oracle):
    """The tasks (not futures) of a whole-process callgraph that can be
    compared: not running (a running task's stack is the thread's)."""
    return [t for t in oracle_tasks(oracle)
            if t["kind"] == "task" and not t.get("running")]


def frames_of(graph):
    """A capture_call_graph() node's stack as comparable tuples."""
    return [(f["function"], f["filename"], f["line"], f["kind"])
            for f in graph["call_stack"]]


def current_threads(oracle):
    """The threads blocked inside a task (native ids as strings), sorted."""
    return sorted(oracle.get("current") or {})


def pick_tasks(oracle, limit):
    """Tasks and futures to select by address: all of them up to limit,
    else an even sample of limit."""
    tasks = [t for t in oracle_tasks(oracle) if not t.get("running")]
    if len(tasks) > limit:
        step = len(tasks) / float(limit)
        tasks = [tasks[int(i * step)] for i in range(limit)]
    return tasks


def pick_names(oracle, limit):
    """Tasks that can be selected by name: unique, printable names that a
    debugger's command line passes through unchanged and that do not look
    like an option or an address."""
    names = {}
    for t in oracle["tasks"]:
        if t["kind"] == "task" and t.get("name"):
            names.setdefault(t["name"], []).append(t)
    picks = []
    for name, ts in names.items():
        t = ts[0]
        if (len(ts) == 1 and t.get("callgraph") is not None and not t.get("running")
                and len(name) < 200 and not name.startswith("0x")
                and not re.search(r"[`'\"\\\x00-\x1f]|^-|^\s|\s$", name)):
            picks.append(t)
    return picks[:limit]


# ---------------------------------------------------------------------------
# CPython's ps and pstree, rebuilt from the oracle

# Scenarios whose ps/pstree show frames that the oracle's capture_call_graph
# does not have: oracle_ps() cannot rebuild them.
ORACLE_PS_GAPS = {
    "agen": "ps and pstree follow an `async for` into the async generator's "
            "frames; capture_call_graph stops at it",
}

def oracle_ps(oracle):
    """What `python3.14 -m asyncio ps` and `pstree` print for the oracle's
    graph: 3.14's asyncio/tools.py (build_task_table, build_async_tree and
    their printing) run on the stacks and awaiters of each task's
    capture_call_graph(); (table, tree), with the tasks in the oracle's
    order, which means nothing: compare them with same_rows() and
    same_tree().  None when the oracle has a task it cannot format (a
    cycle).  For the versions that have no such tool (3.11-3.13), and
    checked against the real ps.txt/pstree.txt of the committed 3.14 and
    3.15 cores.  Not what ps shows where it differs from
    format_call_graph (KNOWN_CPYTHON_DIFFERENCES: a running task, async
    generators, plain futures)."""
    tasks = [t for t in oracle["tasks"] if t["kind"] == "task"]
    if any(t.get("graph") is None for t in tasks):
        return None
    names = {t["id"]: t["name"] for t in tasks}

    def entry(f):   # tools._format_stack_entry
        if f["line"] == 0 and f["filename"] == "":
            return f["function"]
        return "%s %s:%d" % (f["function"], f["filename"], f["line"])

    rows, awaits, stacks = [], [], {}
    for t in tasks:
        g = t["graph"]
        stack = " -> ".join(f["function"] for f in g["call_stack"])
        stacks[t["id"]] = [entry(f) for f in g["call_stack"]]
        if not g["awaited_by"]:
            rows.append([t["native_thread_id"], t["id"], t["name"], stack, "", "", "0x0"])
        for a in g["awaited_by"]:
            rows.append([t["native_thread_id"], t["id"], t["name"], stack,
                         " -> ".join(f["function"] for f in a["call_stack"]),
                         names.get(a["id"], "Unknown"), a["id"]])
            awaits.append((a["id"], [entry(f) for f in a["call_stack"]], t["id"]))
    widths = (10, 20, 20, 50, 50, 15, 15)
    header = ("tid", "task id", "task name", "coroutine stack", "awaiter chain",
              "awaiter name", "awaiter id")
    line = lambda cols: " ".join("%-*s" % (w, c) for w, c in zip(widths, cols))
    table = "".join(line(r) + "\n" for r in [header, ["-" * 180]] + rows)
    table = table.replace(line(["-" * 180]), "-" * 180)

    # the tree: tasks and coroutine frames, a frame node shared by the
    # awaits that pass through it (tools._build_tree)
    labels = {("T", tid): "(T) " + name for tid, name in names.items()}
    children, frames = {}, {}

    def frame_node(parent, frame):
        key = frames.setdefault(parent, {}).get(frame)
        if key is None:
            key = ("C", len(labels))
            labels[key] = " " + frame
            children.setdefault(parent, []).append(key)
            frames[parent][frame] = key
        return key

    for parent, stack, child in awaits:
        cur = ("T", parent)
        for frame in reversed(stack):
            cur = frame_node(cur, frame)
        if ("T", child) not in children.setdefault(cur, []):
            children[cur].append(("T", child))
    awaiting = {p for p, _, _ in awaits}
    for tid in names:
        if tid not in awaiting:
            cur = ("T", tid)
            for frame in reversed(stacks[tid]):
                cur = frame_node(cur, frame)

    def render(node, prefix, last, buf):
        buf.append(prefix + ("└── " if last else "├── ") + labels[node])
        kids = children.get(node, [])
        for i, kid in enumerate(kids):
            render(kid, prefix + ("    " if last else "│   "), i == len(kids) - 1, buf)
        return buf

    inner = {c for kids in children.values() for c in kids}
    tree = "".join("\n".join(render(n, "", True, [])) + "\n"
                   for n in labels if n not in inner)
    return table, tree


def same_rows(got, want):
    """Two ps tables equal but for the order of their rows."""
    a, b = got.splitlines(), want.splitlines()
    return a[:2] == b[:2] and sorted(a[2:]) == sorted(b[2:])


def _canonical_tree(text):
    """A pstree output as nested (label, sorted children) tuples, the
    roots sorted: two trees equal but for the order of siblings compare
    equal."""
    root = ("", [])
    path = [root]
    for line in text.splitlines():
        m = re.match(r"^((?:    |│   )*)(?:└── |├── )(.*)$", line)
        if not m:
            return ("unparsed", text)
        depth = len(m.group(1)) // 4
        node = (m.group(2), [])
        del path[depth + 1:]
        path[-1][1].append(node)
        path.append(node)

    def freeze(n):
        return (n[0], tuple(sorted(freeze(c) for c in n[1])))
    return freeze(root)


def same_tree(got, want):
    """Two pstree outputs equal but for the order of sibling nodes."""
    return _canonical_tree(got) == _canonical_tree(want)


# ---------------------------------------------------------------------------
# checks

def check_callgraph(tap, label, text, oracle, stderr="", tasks=None):
    """Every waiting task's block of one whole-process callgraph output
    equals its format_call_graph() text (tasks: these oracle tasks
    instead, e.g. all those of a kernel core's oracle)."""
    blocks = split_blocks(text)
    want = waiting_tasks(oracle) if tasks is None else tasks
    bad = [t for t in want if blocks.get(t["id"]) != t["callgraph"]]
    diag = None
    if bad:
        t = bad[0]
        diag = "%d of %d tasks differ; first: %s %r\n%s\n%s" % (
            len(bad), len(want), t["id"], t["name"],
            first_diff(blocks.get(t["id"]) or "<missing>", t["callgraph"]),
            tail(stderr, 1000))
    return tap.ok(want and not bad, "%s: callgraph of %d tasks equals "
                  "format_call_graph" % (label, len(want)), diag)


def json_problems(doc, oracle):
    """How a --format=json document differs from capture_call_graph() and
    the oracle's task list and cycles."""
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
    return problems


THREAD_KEYS = ["interpreter", "thread_id", "native_thread_id", "running_task", "name",
               "comm", "holds_gil", "state", "loop", "stack"]
TASK_KEYS = ["id", "kind", "name", "interpreter", "native_thread_id", "running",
             "call_stack", "awaited_by", "awaited_by_inferred", "awaiting"]
AWAITING_KEYS = ["kind", "future", "object", "type", "state"]
LOOP_KEYS = ["address", "interpreter", "native_thread_id", "type", "readable", "running",
             "closed", "ready", "timers", "next_deadline", "remaining", "fds", "tasks",
             "can_wake"]


def check_json(tap, label, text, oracle, kind=None):
    """--format=json: schema 1, its keys in order, the target of this kind
    ("live", "core"; any when None), and the graph of every oracle task."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        return tap.ok(False, "%s: json parses" % label, "%s\n%s" % (e, text[:500]))
    keys = list(doc.keys())
    # the keys of every thread and task too, and the rebuilt edges: none
    # where the interpreter records them (3.14 and later)
    bad = [list(th) for th in doc.get("threads", []) if list(th) != THREAD_KEYS]
    bad += [list(t) for t in doc.get("tasks", []) if list(t) != TASK_KEYS]
    bad += [list(t["awaiting"]) for t in doc.get("tasks", [])
            if isinstance(t.get("awaiting"), dict) and list(t["awaiting"]) != AWAITING_KEYS]
    bad += [list(lp) for lp in doc.get("loops", []) if list(lp) != LOOP_KEYS]
    recorded = tuple(int(x) for x in doc["target"]["python"].split(".")[:2]) >= (3, 14)
    bad += [t["id"] for t in doc.get("tasks", [])
            if recorded and t.get("awaited_by_inferred")]
    if not tap.ok(keys == ["schema", "target", "threads", "tasks", "cycles", "loops",
                           "warnings"] and doc["schema"] == 1 and not bad,
                  "%s: json schema 1 with keys in order" % label, (keys, bad[:3])):
        return False
    try:
        problems = json_problems(doc, oracle)
        got_kind = doc["target"]["kind"]
    except (KeyError, TypeError) as e:
        problems, got_kind = ["malformed: %r" % e], None
    if kind is not None and got_kind != kind:
        problems.insert(0, "target kind %s, expected %s" % (got_kind, kind))
    return tap.ok(not problems, "%s: json graph equals capture_call_graph (%d tasks)%s"
                  % (label, len(oracle["tasks"]),
                     ", target kind " + kind if kind else ""),
                  "\n".join(problems[:10]) + ("\n..." if len(problems) > 10 else ""))


def check_current(tap, label, text, oracle, tid, stderr=""):
    """--current on a thread blocked inside a task: exactly its
    format_call_graph() text and one newline."""
    want = oracle["current"][str(tid)]
    return tap.ok(text == want + "\n", "%s: --current on thread %s equals "
                  "format_call_graph() in its running task" % (label, tid),
                  "%s\n%s" % (first_diff(text, want + "\n"), tail(stderr, 500)))


def check_tasks(tap, label, tasks, stderr=""):
    """The TASK argument: each (argument, task, text) printed exactly the
    task's format_call_graph() text and one newline."""
    bad = ["%s:\n%s" % (arg, first_diff(text, t["callgraph"] + "\n"))
           for arg, t, text in tasks if text != t["callgraph"] + "\n"]
    by_address = sum(1 for arg, t, _ in tasks if arg == t["id"])
    return tap.ok(not bad, "%s: TASK argument (%d by address, %d by name) equals "
                  "format_call_graph(TASK)" % (label, by_address, len(tasks) - by_address),
                  "\n".join(bad[:3]) + "\n" + tail(stderr, 500))


def check_outputs(tap, label, outs, oracle, kind):
    """Everything a front end printed for one target (a
    pyag_frontends.Outputs) that the oracle says: the whole-process
    callgraph, the json graph, the TASK arguments, --current."""
    if outs.callgraph is not None:
        check_callgraph(tap, label, outs.callgraph, oracle, outs.stderr)
    if outs.json is not None:
        check_json(tap, label, outs.json, oracle, kind)
    if outs.tasks:
        check_tasks(tap, label, outs.tasks, outs.stderr)
    for tid, text in sorted(outs.current.items()):
        check_current(tap, label, text, oracle, tid, outs.stderr)
