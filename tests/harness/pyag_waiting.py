"""What each task waits on, and each event loop, against the truth the
scenario wrote about itself, as TAP checks.

The truth is DIR/waiting.json (_oracle.expect_waiting / expect_loop, see
tests/scenarios/README.md; read by pyag_harness.Scenario as .waiting): for
each declared task, by name, the kind of thing it waits on, that object's
address and type, the future the task is blocked on (its _fut_waiter) and
the object's state; and every loop of the process, as loops[] has it.
Each declaration was checked against the objects in the process when it
was written.

What is checked, for one target (a live process or a core) read by one
front end:

  --format=json  every task has "awaiting" after its other keys, each key
                 (kind, future, object, type, state) in order; for every
                 task of the truth, kind, future, object, type and state
                 equal the truth, but a sleep's "remaining": live, the time
                 left between the deadline and the loop clock (monotonic,
                 the same clock here) before and after the read; null from
                 a core; tasks sharing an object in the truth name the same
                 address; top-level "loops" holds the truth's loops (by
                 address), each key in order and equal, "remaining" as a
                 sleep's, file descriptors in any order; can_wake on its own
                 line (the deadlock is false, busy true).
  --waiting      tree, table, csv, dot and threads name each task's awaited
                 object (its address) with its kind; dot declares each
                 object once.  TODO: loose until README.md describes the
                 text formats: a line/row of the task (tree: the lines
                 under it) holds the address and the kind.
  --format=loops each loop's address.

For the blocked scenario (a task running on its blocked thread):
check_running_not_waiting(), its awaiting is null.

For the aiohttp scenario, which declares nothing (aiohttp's own tasks):
check_aiohttp_streams() compares the client tasks' stream fds and peers
with what the kernel says about the live process (/proc/PID/fd and
/proc/PID/net/tcp, matched by socket inode).

Standard library only.
"""

import csv
import io
import json
import os
import re
import socket
import struct

import pyag_oracle as O

AWAITING_KEYS = ["kind", "future", "object", "type", "state"]
STATE_KEYS = {
    "task": [], "future": [], "unknown": [], "shield": [],
    "gather": ["children", "done"],
    "event": ["set", "waiters"],
    "lock": ["locked", "waiters"],
    "semaphore": ["value", "waiters"],
    "condition": ["locked", "waiters"],
    "queue": ["operation", "size", "maxsize", "getters", "putters"],
    "barrier": ["parties", "waiting", "state"],
    "sleep": ["deadline", "remaining"],
    "taskgroup": ["tasks"],
    "executor": ["state", "thread"],
    "stream": ["operation", "fd", "peer"],
    "socket": ["operation", "fd", "peer"],
    "subprocess": ["pid", "returncode"],
}
LOOP_KEYS = ["address", "interpreter", "native_thread_id", "type", "readable",
             "running", "closed", "ready", "timers", "next_deadline", "remaining",
             "fds", "tasks", "can_wake"]
FD_KEYS = ["fd", "reader", "writer"]
# (seconds) a time left read from a live process against the clock here:
# the loop's time() is CLOCK_MONOTONIC, which every process shares
SLACK = 0.5

# the requests of one target (one debugger session)
REQUESTS = (["--format=json"], ["--format=callgraph"],
            ["--format=tree", "--waiting"], ["--format=table", "--waiting"],
            ["--format=csv", "--waiting"], ["--format=dot", "--waiting"],
            ["--format=threads", "--waiting"], ["--format=loops"])


def task_keys():
    """The keys of a task in --format=json: the graph's, then awaiting."""
    return [k for k in O.TASK_KEYS if k != "awaiting"] + ["awaiting"]


def _remaining_problem(got, deadline, kind, clock):
    """A time left: live, within [deadline - after, deadline - before]
    (clock: the monotonic time before and after the read) give or take
    SLACK; null from a core.  None when right, else why."""
    if kind == "core" or deadline is None:
        return None if got is None else "remaining %r, expected null%s" % (
            got, " (a core)" if kind == "core" else " (no deadline)")
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return "remaining %r, expected a number" % (got,)
    lo, hi = deadline - clock[1] - SLACK, deadline - clock[0] + SLACK
    if not (max(lo, 0) <= got <= hi):
        return "remaining %r not in [%r, %r] (deadline %r, clock %r..%r)" % (
            got, max(lo, 0), hi, deadline, clock[0], clock[1])
    return None


def _parse(tap, label, text):
    try:
        doc = json.loads(text)
        doc["tasks"]
        return doc
    except (ValueError, KeyError, TypeError) as e:
        tap.ok(False, "%s: json parses" % label, "%s\n%s" % (e, (text or "")[:500]))
        return None


def check_json_waiting(tap, label, text, truth, kind, clock):
    """--format=json's awaiting and loops against the truth.  kind: "live"
    or "core"; clock: (monotonic time before the read, after it)."""
    doc = _parse(tap, label, text)
    if doc is None:
        return
    tasks = doc["tasks"]
    want_keys = task_keys()
    bad = ["%s: %r" % (t.get("name") or t.get("id"), list(t)) for t in tasks
           if list(t) != want_keys]
    bad += ["%s: awaiting keys %r" % (t.get("name") or t.get("id"), list(t["awaiting"]))
            for t in tasks if isinstance(t.get("awaiting"), dict)
            and list(t["awaiting"]) != AWAITING_KEYS]
    bad += ["%s: %s state keys %r" % (t.get("name"), t["awaiting"].get("kind"),
                                      list(t["awaiting"].get("state") or {}))
            for t in tasks if isinstance(t.get("awaiting"), dict)
            and t["awaiting"].get("kind") in STATE_KEYS
            and list(t["awaiting"].get("state") or {}) != STATE_KEYS[t["awaiting"]["kind"]]]
    tap.ok(not bad, "%s: json: every task has the keys %s; awaiting %s; each state "
           "its kind's keys in order" % (label, ", ".join(want_keys),
                                         ", ".join(AWAITING_KEYS)), "\n".join(bad[:8]))

    by_name = {}
    for t in tasks:
        by_name.setdefault(t.get("name"), []).append(t)
    want = truth["tasks"]
    missing = [n for n in want if len(by_name.get(n, [])) != 1]
    tap.ok(not missing, "%s: json lists each of the truth's %d tasks once, by name"
           % (label, len(want)), "missing or several: %r" % missing)
    # a task missing, or without an awaiting object, fails every check
    pairs = [(n, (by_name.get(n) or [{}])[0].get("awaiting"), w) for n, w in want.items()]
    pairs = [(n, g if isinstance(g, dict) else {"missing": g}, w) for n, g, w in pairs]
    kinds = sorted({w["kind"] for w in want.values()})
    for key, what in (("kind", "kind (%s)" % ", ".join(kinds)),
                      ("object", "object address"), ("type", "object type"),
                      ("future", "future (the task's fut_waiter)")):
        p = ["%s: %s %r, truth %r" % (n, key, g.get(key), w[key])
             for n, g, w in pairs if key in w and g.get(key) != w[key]]
        tap.ok(not p, "%s: json awaiting %s equals the truth" % (label, what),
               "\n".join(p[:12]))
    p = []
    for n, g, w in pairs:
        state = g.get("state")
        if not isinstance(state, dict):
            p.append("%s: state %r" % (n, state))
            continue
        exp = {k: v for k, v in w["state"].items() if k != "remaining"}
        got = {k: v for k, v in state.items() if k != "remaining"}
        if got != exp:
            p.append("%s (%s): state %r, truth %r" % (n, w["kind"], got, exp))
    tap.ok(not p, "%s: json awaiting state equals the truth (every key but a "
           "sleep's remaining)" % label, "\n".join(p[:12]))
    sleeps = [(n, g, w) for n, g, w in pairs if "remaining" in w["state"]]
    if sleeps:
        p = []
        for n, g, w in sleeps:
            state = g.get("state")
            if not isinstance(state, dict) or "remaining" not in state:
                p.append("%s: no remaining in state %r" % (n, state))
                continue
            why = _remaining_problem(state["remaining"], w["state"]["deadline"],
                                     kind, clock)
            if why:
                p.append("%s: %s" % (n, why))
        tap.ok(not p, "%s: json sleep remaining: %s" % (
            label, "the time left to the deadline" if kind == "live"
            else "null (a core)"), "\n".join(p))
    # shared objects: the same address for every task the truth gives one
    groups = {}
    for n, w in want.items():
        groups.setdefault(w["object"], []).append(n)
    shared = {o: ns for o, ns in groups.items() if len(ns) > 1}
    if shared:
        got_obj = {n: (g.get("object")) for n, g, w in pairs}
        p = ["%s: %r" % (ns, [got_obj.get(n) for n in ns]) for ns in shared.values()
             if len({got_obj.get(n) for n in ns}) != 1 or got_obj.get(ns[0]) is None]
        tap.ok(not p, "%s: json: tasks waiting on one object name one address "
               "(%d shared objects)" % (label, len(shared)), "\n".join(p[:8]))
    check_json_loops(tap, label, doc, truth, kind, clock)


def check_json_loops(tap, label, doc, truth, kind, clock):
    loops = doc.get("loops")
    if not tap.ok(isinstance(loops, list), "%s: json has loops[]" % label,
                  "top-level keys %r" % list(doc)):
        return
    old = [k for k in doc if k != "loops"]
    tap.ok(old == ["schema", "target", "threads", "tasks", "cycles", "warnings"],
           "%s: json: loops added, the other top-level keys in their order" % label,
           repr(list(doc)))
    bad = ["%s: %r" % (l.get("address"), list(l)) for l in loops if list(l) != LOOP_KEYS]
    bad += ["%s fd %s: %r" % (l.get("address"), f.get("fd"), list(f)) for l in loops
            if isinstance(l.get("fds"), list) for f in l["fds"] if list(f) != FD_KEYS]
    tap.ok(not bad, "%s: json: each loop has the keys %s in order, each fd %s" % (
        label, ", ".join(LOOP_KEYS), ", ".join(FD_KEYS)), "\n".join(bad[:8]))
    got = {}
    for l in loops:
        got.setdefault(l.get("address"), []).append(l)
    want = {l["address"]: l for l in truth["loops"]}
    tap.ok(sorted(got) == sorted(want) and all(len(v) == 1 for v in got.values()),
           "%s: json loops[] are the process's %d loops, each once" % (label, len(want)),
           "addresses %r, truth %r" % (sorted(got), sorted(want)))
    p = []
    for addr, w in sorted(want.items()):
        if len(got.get(addr, [])) != 1:
            continue
        g = got[addr][0]
        for k in LOOP_KEYS:
            if k in ("address", "remaining", "can_wake"):
                continue
            gv, wv = g.get(k), w[k]
            if k == "fds" and isinstance(gv, list):
                gv = sorted(gv, key=lambda f: f.get("fd", -1) if isinstance(f, dict) else -1)
            if gv != wv:
                p.append("loop %s: %s %r, truth %r" % (addr, k, gv, wv))
        why = _remaining_problem(g.get("remaining"), w["next_deadline"], kind, clock)
        if why:
            p.append("loop %s: %s" % (addr, why))
    tap.ok(not p, "%s: json loops equal the truth (type, running, ready callbacks, "
           "timers, next deadline, fds with their callbacks, tasks; remaining %s)" % (
               label, "live" if kind == "live" else "null"), "\n".join(p[:12]))
    p = ["loop %s: can_wake %r, truth %r" % (a, got[a][0].get("can_wake"), w["can_wake"])
         for a, w in sorted(want.items()) if len(got.get(a, [])) == 1
         and got[a][0].get("can_wake") is not w["can_wake"]]
    tap.ok(not p, "%s: json loops: can_wake is %s" % (label, ", ".join(
        "%s for %s" % (str(w["can_wake"]).lower(), a) for a, w in sorted(want.items()))),
        "\n".join(p))


def check_running_not_waiting(tap, label, text, oracle):
    """A task executing on a blocked thread (the oracle's "running") waits
    on nothing: its awaiting is null (the key is there)."""
    doc = _parse(tap, label, text)
    if doc is None:
        return
    by_id = {t.get("id"): t for t in doc["tasks"]}
    running = [t["id"] for t in oracle["tasks"] if t.get("running")]
    p = ["%s: %s" % (i, "missing" if i not in by_id else
                     "no awaiting key" if "awaiting" not in by_id[i] else
                     "awaiting %r" % (by_id[i]["awaiting"],))
         for i in running if "awaiting" not in by_id.get(i, {})
         or by_id[i]["awaiting"] is not None]
    tap.ok(running and not p, "%s: json: the running task (%s) has awaiting null" % (
        label, ", ".join(running)), "\n".join(p) or "no running task in the oracle")


# ---------------------------------------------------------------------------
# texts (--waiting); TODO: tighten once README.md describes each format

def _objects(truth):
    """[(task name, object address, kind)] of the truth."""
    return [(n, w["object"], w["kind"]) for n, w in truth["tasks"].items()]


def _has(line, addr, kind):
    return addr in line and re.search(r"\b%s\b" % re.escape(kind), line) is not None


TREE_TASK_RE = re.compile(r"\(T\) (.*)$")


def check_tree(tap, label, text, truth, what="tree"):
    """tree (and threads): the lines under each task's '(T) NAME' line, up
    to the next task, hold its object's address and kind on one line."""
    lines = text.split("\n")
    under = {}
    cur = None
    for line in lines:
        m = TREE_TASK_RE.search(line)
        if m:
            cur = m.group(1).strip()
            under.setdefault(cur, [])
        elif cur is not None:
            under[cur].append(line)
    p = []
    for n, addr, kind in _objects(truth):
        if n not in under:
            p.append("%s: no '(T) %s' line" % (n, n))
        elif not any(_has(l, addr, kind) for l in under[n]):
            p.append("%s: no line under it with %s and %r" % (n, addr, kind))
    tap.ok(not p, "%s: --format=%s --waiting: under each task its awaited object "
           "(address, kind)" % (label, what), "\n".join(p[:10]) + "\n" + text[:1200])


def check_table(tap, label, text, truth, oracle):
    ids = {t["name"]: t["id"] for t in oracle["tasks"] if t["kind"] == "task"}
    p = []
    for n, addr, kind in _objects(truth):
        rows = [l for l in text.split("\n") if ids.get(n) and ids[n] in l.split()[1:2]]
        if not rows:
            p.append("%s: no row of task %s" % (n, ids.get(n)))
        elif not all(_has(r, addr, kind) for r in rows):
            p.append("%s: a row without %s and %r: %r" % (n, addr, kind, rows[0]))
    tap.ok(not p, "%s: --format=table --waiting: each row of a task has its awaited "
           "object (address, kind)" % label, "\n".join(p[:10]))


def check_csv(tap, label, text, truth, oracle):
    ids = {t["name"]: t["id"] for t in oracle["tasks"] if t["kind"] == "task"}
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as e:
        tap.ok(False, "%s: --format=csv --waiting parses" % label, e)
        return
    p = []
    if not rows or len(rows[0]) != 8:
        p.append("header %r: expected the table's 7 columns and one more" % (
            rows[0] if rows else None))
    for n, addr, kind in _objects(truth):
        mine = [r for r in rows[1:] if len(r) > 1 and r[1] == ids.get(n)]
        if not mine:
            p.append("%s: no row of task %s" % (n, ids.get(n)))
        elif not all(len(r) == 8 and _has(r[7], addr, kind) for r in mine):
            p.append("%s: last column without %s and %r: %r" % (n, addr, kind, mine[0]))
    tap.ok(not p, "%s: --format=csv --waiting: one more column, the awaited object "
           "(address, kind) on each row of a task" % label, "\n".join(p[:10]))


DOT_NODE_RE = re.compile(r'^\s*"([^"]+)"\s*\[')
DOT_EDGE_RE = re.compile(r'^\s*"([^"]+)"\s*->\s*"([^"]+)"')


def check_dot(tap, label, text, truth, oracle):
    """dot: each awaited primitive a node (declared once, its address in
    its id or label), with an edge to or from each task waiting on it."""
    ids = {t["name"]: t["id"] for t in oracle["tasks"] if t["kind"] == "task"}
    decl = {}
    edges = []
    for line in text.split("\n"):
        e = DOT_EDGE_RE.match(line)
        if e:
            edges.append((e.group(1), e.group(2), line))
            continue
        m = DOT_NODE_RE.match(line)
        if m:
            decl.setdefault(m.group(1), []).append(line)
    p = []
    for addr in sorted({w["object"] for w in truth["tasks"].values()}):
        nodes = [n for n, ls in decl.items() if addr in n or any(addr in l for l in ls)]
        # a task awaiting a task: that task's own node
        if len(nodes) != 1 or len(decl[nodes[0]]) != 1:
            p.append("%s: declared by %r" % (addr, [l for n in nodes for l in decl[n]]))
            continue
        node = nodes[0]
        for n, w in truth["tasks"].items():
            if w["object"] == addr and not any(
                    {a, b} == {node, ids.get(n)} for a, b, _ in edges):
                p.append("%s (%s): no edge between task %s and node %s" % (
                    n, w["kind"], ids.get(n), node))
    tap.ok(not p, "%s: --format=dot --waiting: each awaited object one node, joined to "
           "each task waiting on it" % label, "\n".join(p[:10]))


def check_loops_text(tap, label, text, truth):
    p = [l["address"] for l in truth["loops"] if l["address"] not in text]
    tap.ok(not p, "%s: --format=loops lists each loop's address" % label,
           "missing %r\n%s" % (p, text[:800]))


def check_texts(tap, label, texts, truth, oracle):
    """The --waiting texts and --format=loops: {request index: text}."""
    check_tree(tap, label, texts[2], truth)
    check_table(tap, label, texts[3], truth, oracle)
    check_csv(tap, label, texts[4], truth, oracle)
    check_dot(tap, label, texts[5], truth, oracle)
    check_tree(tap, label, texts[6], truth, what="threads")
    check_loops_text(tap, label, texts[7], truth)


# ---------------------------------------------------------------------------
# aiohttp: the kernel's view of the live process

def _tcp_table(pid):
    """{inode: (local "ip:port", remote "ip:port", state)} of the
    process's network namespace (IPv4)."""
    res = {}
    with open("/proc/%d/net/tcp" % pid) as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, st, inode = fields[1], fields[2], fields[3], int(fields[9])
            res[inode] = (_addr(local), _addr(remote), int(st, 16))
    return res


def _addr(hexaddr):
    ip, port = hexaddr.split(":")
    return "%s:%d" % (socket.inet_ntoa(struct.pack("<I", int(ip, 16))), int(port, 16))


def socket_fds(pid):
    """{fd: (local, remote, tcp state)} of the live process's TCP sockets."""
    table = _tcp_table(pid)
    res = {}
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            target = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]$", target)
        if m and int(m.group(1)) in table:
            res[int(fd)] = table[int(m.group(1))]
    return res


TCP_LISTEN = 0x0A


def check_aiohttp_streams(tap, label, text, sockets, clients):
    """The client tasks (names `clients`) of the aiohttp scenario wait on a
    stream read whose fd is one of the process's TCP sockets (sockets:
    socket_fds() of the live process) connected to the process's own
    listening server, and whose peer is that socket's remote address; each
    client its own fd."""
    doc = _parse(tap, label, text)
    if doc is None:
        return None
    listening = {v[0] for v in sockets.values() if v[2] == TCP_LISTEN}
    by_name = {t.get("name"): t for t in doc["tasks"]}
    p, seen = [], {}
    for n in clients:
        a = (by_name.get(n) or {}).get("awaiting")
        if not isinstance(a, dict):
            p.append("%s: awaiting %r" % (n, a))
            continue
        st = a.get("state") or {}
        fd, peer = st.get("fd"), st.get("peer")
        seen[n] = (fd, peer)
        if a.get("kind") != "stream" or st.get("operation") != "read":
            p.append("%s: kind %r operation %r, expected a stream read" % (
                n, a.get("kind"), st.get("operation")))
        if fd not in sockets:
            p.append("%s: fd %r is not a TCP socket of the process (%r)" % (
                n, fd, sorted(sockets)))
        elif sockets[fd][1] != peer or peer not in listening:
            p.append("%s: peer %r; the kernel: fd %d %s -> %s, the server listens on %r"
                     % (n, peer, fd, sockets[fd][0], sockets[fd][1], sorted(listening)))
    fds = [v[0] for v in seen.values()]
    if len(set(fds)) != len(fds):
        p.append("clients share fds: %r" % seen)
    tap.ok(not p, "%s: json: the %d clients wait on stream reads of their own "
           "sockets, fd and peer as /proc/PID/fd and /proc/PID/net/tcp say" % (
               label, len(clients)), "\n".join(p))
    return seen
