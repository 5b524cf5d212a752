"""A front end's thread report against a scenario's thread truth, as TAP
checks.

The truth is DIR/threads.json, written by the scenario itself
(_oracle.snapshot_with_threads, see tests/scenarios/README.md; read by
pyag_harness.Scenario as .threads, which also waits until the process is
parked as it says): every
thread of the process with its ident, native id, threading name, running
loop and Python stack (sys._current_frames(), innermost first), sampled
while the process is parked.  One thread ("cpu_bound") spins in a pure
Python loop: its functions, files and outer lines are fixed, its innermost
line is one of the loop's lines ("innermost_lines").  Every other thread
is blocked in a system call with its thread state detached.

What is checked, for one target (a live process or a core) read by one
front end:

  --format=json  threads[] holds exactly the truth's threads (by native
                 id, each once), each with its keys in order; thread_id,
                 name, loop equal the truth and running_task is null; comm
                 is the kernel's /proc/PID/task/TID/comm (live) or null
                 (core); the whole stack, frame by frame (function,
                 filename, line), and the frame kinds equal the truth;
                 the CPU-bound thread is "running" and holds the GIL, every
                 other thread is "gil_released" and does not.
  --format=threads
                 one section per thread, its header line starting
                 "Thread NATIVE_ID" (a note without frames or tasks may
                 come before the first), followed by the threading name
                 in quotes (none for a thread threading does not know); its '  File "F", line N, in FUNC'
                 lines are the truth's stack in traceback order (outermost
                 first); the (T) task names in the section are exactly the
                 oracle's tasks of that thread.

Standard library only.
"""

import json
import re

import pyag_oracle as O

THREAD_KEYS = ["interpreter", "thread_id", "native_thread_id", "running_task",
               "name", "comm", "holds_gil", "state", "loop", "stack"]
FRAME_KEYS = ["function", "filename", "line", "kind"]

HEADER_RE = re.compile(r"^Thread (\d+)(?!\d)")
# the name in a header: Thread TID 'NAME' [comm 'COMM'] (interpreter N): ...
HEADER_NAME_RE = re.compile(r"^Thread \d+ '((?:[^'\\]|\\.)*)'")
FILE_RE = re.compile(r'^  File "(.*)", line (\d+), in (.*)$')
TASK_RE = re.compile(r"\(T\) (.*)$")


def _frames(stack):
    return [(f["function"], f["filename"], f["line"]) for f in stack]


def stack_problems(got, want):
    """How a stack from the tool, [(function, filename, line)] innermost
    first, differs from a truth thread's stack ([] when equal)."""
    exp = _frames(want["stack"])
    if not want.get("cpu_bound"):
        if got == exp:
            return []
        return ["stack %r != truth %r" % (got, exp)]
    # the CPU-bound thread: same functions and files, the same lines but
    # for the innermost frame, which is on one of its loop's lines
    if ([g[:2] for g in got] != [e[:2] for e in exp] or
            [g[2] for g in got[1:]] != [e[2] for e in exp[1:]]):
        return ["stack %r != truth %r (innermost line free)" % (got, exp)]
    if got[0][2] not in want["innermost_lines"]:
        return ["innermost line %d of %s not one of its loop's lines %r" % (
            got[0][2], got[0][0], want["innermost_lines"])]
    return []


def _who(t):
    return "thread %d %r" % (t["native_thread_id"], t["name"])


def _kernel_comm(pid, tid):
    try:
        with open("/proc/%d/task/%d/comm" % (pid, tid), encoding="utf-8",
                  errors="replace") as f:
            return f.read().rstrip("\n")
    except OSError:
        return "<no /proc/%d/task/%d>" % (pid, tid)


def check_json_threads(tap, label, text, truth, kind, pid=None):
    """--format=json's threads[] against the truth.  kind: "live" (pid:
    the process, for comm) or "core"."""
    try:
        doc = json.loads(text)
        threads = doc["threads"]
    except (ValueError, KeyError, TypeError) as e:
        tap.ok(False, "%s: json threads[] parses" % label, "%s\n%s" % (e, text[:500]))
        return
    want = {t["native_thread_id"]: t for t in truth["threads"]}
    got_ids = [t.get("native_thread_id") for t in threads]
    ids_ok = sorted(got_ids) == sorted(want)
    tap.ok(ids_ok, "%s: json threads[] are the process's %d threads, each once"
           % (label, len(want)), "native ids %r, truth %r" % (sorted(got_ids), sorted(want)))
    bad_keys = ["%s: keys %r" % (t.get("native_thread_id"), list(t))
                for t in threads if list(t) != THREAD_KEYS]
    bad_keys += ["%s: frame keys %r" % (t.get("native_thread_id"), list(f))
                 for t in threads if isinstance(t.get("stack"), list)
                 for f in t["stack"] if list(f) != FRAME_KEYS][:3]
    if not tap.ok(not bad_keys, "%s: each thread has the keys %s in order, each "
                  "frame %s" % (label, ", ".join(THREAD_KEYS), ", ".join(FRAME_KEYS)),
                  "\n".join(bad_keys[:8])):
        return
    got = {t["native_thread_id"]: t for t in threads if t["native_thread_id"] in want}
    pairs = [(got[tid], w) for tid, w in sorted(want.items()) if tid in got]

    p = []
    for g, w in pairs:
        if g["thread_id"] != w["ident"]:
            p.append("%s: thread_id %r != ident %r" % (_who(w), g["thread_id"], w["ident"]))
        if g["name"] != w["name"]:
            p.append("%s: name %r" % (_who(w), g["name"]))
        if g["running_task"] is not None:
            p.append("%s: running_task %r, no task runs" % (_who(w), g["running_task"]))
    tap.ok(not p, "%s: json thread_id and name equal threading's, no running "
           "task" % label, "\n".join(p))

    p = []
    for g, w in pairs:
        exp = _kernel_comm(pid, w["native_thread_id"]) if kind == "live" else None
        if g["comm"] != exp:
            p.append("%s: comm %r, expected %r" % (_who(w), g["comm"], exp))
    tap.ok(not p, "%s: json comm is %s" % (
        label, "the kernel's /proc/PID/task/TID/comm" if kind == "live"
        else "null (a core)"), "\n".join(p))

    p = []
    for g, w in pairs:
        if g["loop"] != w["loop"]:
            p.append("%s: loop %r, truth %r" % (_who(w), g["loop"], w["loop"]))
    tap.ok(not p, "%s: json loop is the thread's running loop (%d threads run one)"
           % (label, sum(1 for w in want.values() if w["loop"])), "\n".join(p))

    p = []
    for g, w in pairs:
        exp = ("running", True) if w.get("cpu_bound") else ("gil_released", False)
        if (g["state"], g["holds_gil"]) != exp:
            p.append("%s: state %r, holds_gil %r; expected %r, %r" % (
                _who(w), g["state"], g["holds_gil"], exp[0], exp[1]))
    tap.ok(not p, "%s: json state and holds_gil: the CPU-bound thread running "
           "with the GIL, the %d blocked threads gil_released" % (
               label, sum(1 for w in want.values() if not w.get("cpu_bound"))),
           "\n".join(p))

    p = []
    for g, w in pairs:
        for msg in stack_problems(_frames(g["stack"]), w):
            p.append("%s: %s" % (_who(w), msg))
    tap.ok(not p, "%s: json stack of each thread equals sys._current_frames() "
           "(%d frames; function, filename, line)" % (
               label, sum(len(w["stack"]) for w in want.values())), "\n".join(p))

    p = []
    for g, w in pairs:
        gk = [f["kind"] for f in g["stack"]]
        wk = [f["kind"] for f in w["stack"]]
        if gk != wk:
            p.append("%s: kinds %r != truth %r" % (_who(w), gk, wk))
    tap.ok(not p, "%s: json frame kinds equal the truth (%s)" % (
        label, ", ".join(sorted({"%s %s" % (f["kind"], f["function"])
                                 for w in want.values() for f in w["stack"]
                                 if f["kind"]}))), "\n".join(p))


def mask_cpu_lines(doc, truth):
    """A --format=json document (parsed) with the innermost line of the
    truth's CPU-bound threads and the time left until deadlines
    ("remaining") set to None, for comparing two reads of the same process
    (they move between them).  Returns doc."""
    cpu = {t["native_thread_id"] for t in (truth or {}).get("threads", [])
           if t.get("cpu_bound")}
    for t in doc.get("threads", []):
        if t.get("native_thread_id") in cpu and t.get("stack"):
            t["stack"][0]["line"] = None
    # the time left until a deadline moves too
    for lp in doc.get("loops", []):
        lp["remaining"] = None
    for t in doc.get("tasks", []):
        state = (t.get("awaiting") or {}).get("state") or {}
        if "remaining" in state:
            state["remaining"] = None
    return doc


def has_cpu_bound(truth):
    return any(t.get("cpu_bound") for t in (truth or {}).get("threads", []))


def split_sections(text):
    """--format=threads: [(native id, header line, [lines])], in order;
    lines before the first header under id None."""
    sections = []
    cur = (None, None, [])
    for line in text.split("\n"):
        m = HEADER_RE.match(line)
        if m:
            if cur[0] is not None or cur[2]:
                sections.append(cur)
            cur = (int(m.group(1)), line, [])
        else:
            cur[2].append(line)
    if cur[0] is not None or any(cur[2]):
        sections.append(cur)
    return sections


def check_text_threads(tap, label, text, truth, oracle):
    """--format=threads against the truth and the oracle's tasks."""
    want = {t["native_thread_id"]: t for t in truth["threads"]}
    sections = split_sections(text)
    # a note may come before the first thread, but no frame and no task
    stray = [l for s in sections if s[0] is None for l in s[2]
             if FILE_RE.match(l) or TASK_RE.search(l)]
    ids = [s[0] for s in sections if s[0] is not None]
    tap.ok(sorted(ids) == sorted(want) and not stray,
           "%s: --format=threads has one 'Thread NATIVE_ID' section per thread (%d)"
           % (label, len(want)), "sections %r, truth %r%s\n%s" % (
               ids, sorted(want), ", frames or tasks before the first header %r"
               % stray[:3] if stray else "", text[:1500]))
    by_id = {s[0]: s for s in sections if s[0] is not None}
    p = []
    for tid, w in sorted(want.items()):
        if tid in by_id:
            m = HEADER_NAME_RE.match(by_id[tid][1])
            name = re.sub(r"\\(.)", r"\1", m.group(1)) if m else None
            if name != w["name"]:
                p.append("%s: header %r names it %r" % (_who(w), by_id[tid][1], name))
    tap.ok(not p, "%s: --format=threads: each header names its thread as threading "
           "does ('NAME' after the id; none for a thread threading does not know)"
           % label, "\n".join(p))
    p = []
    for tid, w in sorted(want.items()):
        s = by_id.get(tid)
        if s is None:
            continue
        got = []
        for line in s[2]:
            m = FILE_RE.match(line)
            if m:
                got.append((m.group(3), m.group(1), int(m.group(2))))
        # a traceback: most recent call last
        for msg in stack_problems(got[::-1], w):
            p.append("%s: %s (traceback order reversed)\n%s\n%s" % (
                _who(w), msg, s[1], "\n".join(s[2][:40])))
    tap.ok(not p, "%s: --format=threads: each thread's '  File \"F\", line N, in "
           "FUNC' lines are its stack, most recent call last" % label,
           "\n".join(p[:3]))
    p = []
    for tid, w in sorted(want.items()):
        s = by_id.get(tid)
        if s is None:
            continue
        names = sorted(m.group(1) for m in (TASK_RE.search(l) for l in s[2]) if m)
        exp = sorted(t["name"] for t in oracle["tasks"]
                     if t["kind"] == "task" and t["native_thread_id"] == tid)
        if names != exp:
            p.append("%s: tasks %r, oracle %r" % (_who(w), names, exp))
    tap.ok(not p, "%s: --format=threads: each thread's section has its own "
           "tasks (%d)" % (label, sum(1 for t in oracle["tasks"] if t["kind"] == "task")),
           "\n".join(p))


def check_report(tap, label, json_text, threads_text, truth, oracle, kind, pid=None):
    """Both outputs of one target."""
    check_json_threads(tap, label, json_text, truth, kind, pid=pid)
    check_text_threads(tap, label, threads_text, truth, oracle)
