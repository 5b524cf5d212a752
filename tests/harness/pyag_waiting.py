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
                 equal the truth (a raw socket keeps no peer in memory:
                 the peer is the kernel's for a live process read by its
                 pid, else null: from a core, through lldb's memory
                 reads), but a sleep's "remaining": live,
                 the time left between the deadline and the loop clock
                 (monotonic, the same clock here) before and after the
                 read; null from a core; tasks sharing an object in the
                 truth name the same address; top-level "loops" holds the
                 truth's loops (by address), each key in order and equal,
                 "remaining" as a sleep's, file descriptors in any order;
                 can_wake on its own line (the deadlock is false, busy
                 true); no warnings (the process is sound).
  --waiting      as README.md shows it: tree and the task trees of threads,
                 the line under each task ("waits on KIND ADDR TYPE (k=v,
                 ...)", a task by its name, null as ?); table, each row of
                 the task ends with it; csv, its 8th column "waits on";
                 dot, one node per awaited object (its label the same
                 text) and a "waits" edge from each task waiting on it.
  --format=loops each loop's section: its header (type, thread, running,
                 tasks), ready callbacks, timers, fds with their callbacks,
                 and "nothing can wake its tasks" exactly when can_wake is
                 false.

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

AWAITING_KEYS = O.AWAITING_KEYS
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
    "timeout": ["deadline", "remaining"],
    "taskgroup": ["tasks"],
    "executor": ["state", "thread"],
    "stream": ["operation", "fd", "peer"],
    "socket": ["operation", "fd", "peer"],
    "subprocess": ["pid", "returncode"],
}
LOOP_KEYS = O.LOOP_KEYS
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


def expected_state(w, kernel):
    """The state the tool can give for truth entry w: a raw socket keeps
    no peer in memory (but for sock_connect()'s address); the peer comes
    from the kernel's TCP tables when the tool reads a live process by its
    pid (kernel true), else it is null."""
    state = dict(w["state"])
    if w["kind"] == "socket" and state.get("operation") != "connect" and not kernel:
        state["peer"] = None
    return state


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


def check_json_waiting(tap, label, text, truth, kind, clock, kernel):
    """--format=json's awaiting and loops against the truth.  kind: "live"
    or "core"; clock: (monotonic time before the read, after it); kernel:
    the front end asks the kernel about the live process (expected_state)."""
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
            and [k for k in t["awaiting"].get("state") or {} if k != "timeout"]
            != STATE_KEYS[t["awaiting"]["kind"]]]
    tap.ok(not bad, "%s: json: every task has the keys %s; awaiting %s; each state "
           "its kind's keys in order (then timeout)" % (label, ", ".join(want_keys),
                                         ", ".join(AWAITING_KEYS)), "\n".join(bad[:8]))

    warnings = doc.get("warnings")
    tap.ok(warnings == [], "%s: json: no warnings (every object of the process is "
           "sound)" % label, "\n".join(map(str, warnings or [])) or repr(warnings))
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
        exp = {k: v for k, v in expected_state(w, kernel).items() if k != "remaining"}
        got = {k: v for k, v in state.items() if k != "remaining"}
        if got != exp:
            p.append("%s (%s): state %r, truth %r" % (n, w["kind"], got, exp))
    tap.ok(not p, "%s: json awaiting state equals the truth (every key but a "
           "sleep's remaining; a raw socket's peer %s)" % (
               label, "from the kernel" if kernel else "null"), "\n".join(p[:12]))
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
# texts (--waiting, --format=loops), as README.md shows them

def _value_text(v):
    """A state value as the texts print it: repr, null as '?', a float
    with 3 decimals."""
    if v is None:
        return "?"
    if isinstance(v, float):
        return "%.3f" % v
    return repr(v)


def waits_re(w, names, kind, kernel, timeout=True):
    """A regular expression for what the texts print for one truth entry
    w: "KIND ADDR TYPE (k=v, ...)", or "KIND ADDR 'NAME'" when the object
    is a task (names: task id -> name, from the oracle).  A sleep's time
    left: a number live; from a core '?' or nothing.  timeout=False: without
    the task's own timeout deadline (the "timeout" state key)."""
    head = "%s %s " % (w["kind"], w["object"])
    if w["object"] in names:
        return re.escape(head + repr(names[w["object"]]))
    out = re.escape(head + w["type"])
    if w["state"]:
        parts = []
        for k, v in expected_state(w, kernel).items():
            if k == "timeout" and not timeout:
                continue
            if k == "remaining":
                # live, seconds; from a core it is not known: '?', or left out
                parts.append(re.escape(", " + k + "=") + r"\d+\.\d{3}" if kind == "live"
                             else "(?:" + re.escape(", " + k + "=?") + ")?")
            else:
                parts.append((re.escape(", ") if parts else "") +
                             re.escape("%s=%s" % (k, _value_text(v))))
        if parts:
            out += re.escape(" (") + "".join(parts) + re.escape(")")
    return out


def _names(oracle):
    return {t["id"]: t["name"] for t in oracle["tasks"] if t["kind"] == "task"}


def _ids(oracle):
    return {t["name"]: t["id"] for t in oracle["tasks"] if t["kind"] == "task"}


TREE_TASK_RE = re.compile(r"\(T\) (.*)$")
WAITS_LINE_RE = re.compile(r"^[ │]*waits on (.*)$")


def check_tree(tap, label, text, truth, oracle, kind, kernel, what="tree"):
    """tree (and the task trees of threads): the line right under each
    task's '(T) NAME' line is '│   waits on ...' with its object and state."""
    lines = text.split("\n")
    after = {}
    for i, line in enumerate(lines):
        m = TREE_TASK_RE.search(line)
        if m:
            after.setdefault(m.group(1).strip(), []).append(
                lines[i + 1] if i + 1 < len(lines) else "")
    names = _names(oracle)
    p = []
    for n, w in truth["tasks"].items():
        if len(after.get(n, [])) != 1:
            p.append("%s: %d '(T) %s' lines" % (n, len(after.get(n, [])), n))
            continue
        m = WAITS_LINE_RE.match(after[n][0])
        if not m or not re.fullmatch(waits_re(w, names, kind, kernel), m.group(1)):
            p.append("%s: %r\n  expected 'waits on %s'" % (
                n, after[n][0], waits_re(w, names, kind, kernel).replace("\\", "")))
    tap.ok(not p, "%s: --format=%s --waiting: under each task, 'waits on' its object, "
           "type and state" % (label, what), "\n".join(p[:10]))


def check_table(tap, label, text, truth, oracle, kind, kernel):
    """table: each row of a task ends with its 'waits on' column."""
    ids, names = _ids(oracle), _names(oracle)
    lines = text.split("\n")
    p = [] if lines and lines[0].rstrip().endswith("waits on") else [
        "header %r does not end with 'waits on'" % lines[:1]]
    for n, w in truth["tasks"].items():
        rows = [l for l in lines if ids.get(n) and ids[n] in l.split()[1:2]]
        rx = re.compile(r"\s" + waits_re(w, names, kind, kernel) + r"\s*$")
        if not rows:
            p.append("%s: no row of task %s" % (n, ids.get(n)))
        elif not all(rx.search(r) for r in rows):
            p.append("%s: %r" % (n, [r for r in rows if not rx.search(r)][0][-140:]))
    tap.ok(not p, "%s: --format=table --waiting: each row of a task ends with what it "
           "waits on" % label, "\n".join(p[:10]))


def check_csv(tap, label, text, truth, oracle, kind, kernel):
    """csv: the table's 7 columns, then 'waits on'."""
    ids, names = _ids(oracle), _names(oracle)
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as e:
        tap.ok(False, "%s: --format=csv --waiting parses" % label, e)
        return
    p = []
    if not rows or len(rows[0]) != 8 or rows[0][7] != "waits on":
        p.append("header %r: expected the table's 7 columns and 'waits on'" % (
            rows[0] if rows else None))
    for n, w in truth["tasks"].items():
        mine = [r for r in rows[1:] if len(r) > 1 and r[1] == ids.get(n)]
        rx = re.compile(waits_re(w, names, kind, kernel))
        if not mine:
            p.append("%s: no row of task %s" % (n, ids.get(n)))
        elif not all(len(r) == 8 and rx.fullmatch(r[7]) for r in mine):
            p.append("%s: %r" % (n, mine[0]))
    tap.ok(not p, "%s: --format=csv --waiting: the column 'waits on' of each row of a "
           "task" % label, "\n".join(p[:10]))


DOT_NODE_RE = re.compile(r'^\s*"([^"]+)"\s*\[(.*)\];$')
DOT_EDGE_RE = re.compile(r'^\s*"([^"]+)"\s*->\s*"([^"]+)"(.*);$')
DOT_LABEL_RE = re.compile(r'label="((?:[^"\\]|\\.)*)"')


def check_dot(tap, label, text, truth, oracle, kind, kernel):
    """dot: each awaited object that is no task is one node (its id the
    address, its label what it waits on, no task's timeout), with a
    "waits" edge from each task waiting on it (labelled with the task's
    timeout deadline when it has one); a task awaiting a task has its edge
    to it."""
    ids, names = _ids(oracle), _names(oracle)
    decl, edges = {}, []
    for line in text.split("\n"):
        e = DOT_EDGE_RE.match(line)
        if e:
            edges.append((e.group(1), e.group(2), e.group(3)))
            continue
        m = DOT_NODE_RE.match(line)
        if m:
            lab = DOT_LABEL_RE.search(m.group(2))
            decl.setdefault(m.group(1), []).append(lab.group(1) if lab else None)
    p = []
    for n, w in truth["tasks"].items():
        node, me = w["object"], ids.get(n)
        if node in names:
            if not any({a, b} == {me, node} for a, b, _ in edges):
                p.append("%s: no edge between it and the task %s it awaits" % (n, node))
            continue
        # one node for an object several tasks wait on, without any
        # task's own timeout deadline: that is on the task's edge
        labels = decl.get(node, [])
        rx = waits_re(w, names, kind, kernel, timeout=False)
        if len(labels) != 1 or not re.fullmatch(rx, labels[0] or ""):
            p.append("%s: node %s declared as %r" % (n, node, labels))
        deadline = w["state"].get("timeout")
        want = ('label="waits"' if deadline is None
                else 'label="waits, timeout=%s"' % _value_text(deadline))
        if not any(a == me and b == node and want in rest for a, b, rest in edges):
            p.append("%s: no edge %s -> %s with %s" % (n, me, node, want))
    tap.ok(not p, "%s: --format=dot --waiting: each awaited object one node, a 'waits' "
           "edge from each task waiting on it" % label, "\n".join(p[:10]))


def loop_sections(text):
    """--format=loops: {address: [lines]} of each 'Event loop ADDR' section."""
    res, cur = {}, None
    for line in text.split("\n"):
        m = re.match(r"Event loop (0x[0-9a-f]+) ", line)
        if m:
            cur = res.setdefault(m.group(1), [])
        if cur is not None and line:
            cur.append(line)
    return res


def loop_lines(w):
    """The lines --format=loops prints for a truth loop (running ones), the
    timers line as a prefix (its next deadline is not compared)."""
    head = "Event loop %s %s on thread %d (interpreter %d): %s, %d tasks" % (
        w["address"], w["type"], w["native_thread_id"], w["interpreter"],
        "running" if w["running"] else "not running", w["tasks"])
    lines = [head, "  ready callbacks: %d" % w["ready"], "  timers: %d" % w["timers"],
             "  file descriptors: %d" % len(w["fds"])]
    for f in w["fds"]:
        fd = "    fd %d:" % f["fd"]
        if f["reader"]:
            fd += " reader " + f["reader"]
        if f["writer"]:
            fd += " writer " + f["writer"]
        lines.append(fd)
    return lines


def check_loops_text(tap, label, text, truth):
    """--format=loops: a section per loop, its lines as README.md shows,
    and the 'nothing can wake its tasks' line exactly when it cannot."""
    got = loop_sections(text)
    p = []
    for w in truth["loops"]:
        sec = got.get(w["address"])
        if sec is None:
            p.append("no section 'Event loop %s'" % w["address"])
            continue
        want = loop_lines(w)
        have = [l for l in sec if not l.startswith("  nothing can wake")]
        if len(have) != len(want) or any(
                not (h == x or (x.startswith("  timers:") and h.startswith(x + ", next at ")))
                for h, x in zip(have, want)):
            p.append("loop %s:\n%s\n  expected:\n%s" % (w["address"], "\n".join(sec),
                                                       "\n".join(want)))
        stuck = any(l.startswith("  nothing can wake its tasks") for l in sec)
        if stuck != (not w["can_wake"]):
            p.append("loop %s: 'nothing can wake its tasks' %s, can_wake %r" % (
                w["address"], "printed" if stuck else "missing", w["can_wake"]))
    tap.ok(not p, "%s: --format=loops: each loop's section (thread, tasks, ready "
           "callbacks, timers, fds and callbacks; %s)" % (label, ", ".join(
               "%s %s" % (w["address"], "can wake" if w["can_wake"] else
                          "'nothing can wake its tasks'") for w in truth["loops"])),
           "\n".join(p[:6]))


def check_texts(tap, label, texts, truth, oracle, kind, kernel):
    """The texts of REQUESTS[2:] ({request index: text}, those that ran)."""
    checks = {2: lambda t: check_tree(tap, label, t, truth, oracle, kind, kernel),
              3: lambda t: check_table(tap, label, t, truth, oracle, kind, kernel),
              4: lambda t: check_csv(tap, label, t, truth, oracle, kind, kernel),
              5: lambda t: check_dot(tap, label, t, truth, oracle, kind, kernel),
              6: lambda t: check_tree(tap, label, t, truth, oracle, kind, kernel, what="threads"),
              7: lambda t: check_loops_text(tap, label, t, truth)}
    for i, check in sorted(checks.items()):
        if i in texts:
            check(texts[i])


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
