#!/usr/bin/env python3
"""gdb's py-bt as a second reference for the Python stack of every thread.

CPython's gdb extension (libpython.py, shipped by python3.X-dbg as
/usr/share/gdb/auto-load/usr/bin/python3.X-gdb.py) has `py-bt`, which walks
each thread's native stack and the interpreter's frames.  For python3.14
and python3.15 of the sid root filesystem this test starts the scenarios
`threads` (four threads, each idle in its loop's select), `blocked` (the
main thread blocked in time.sleep inside a running task, under a
generator, an async generator and plain functions) and `subinterpreters`
(one thread runs a second interpreter: two thread states, one OS thread),
reads each live process with `py-async-graph --format=json` and with
`gdb -p PID -ex "thread apply all py-bt"` inside the root filesystem (the
sid gdb and its libpython.py), and compares, for every OS thread, py-bt's
frames with our `threads[].stack`.

How the two are compared:

- gdb names a thread by its LWP (`Thread 2 (Thread 0x... (LWP 1234)
  "loop-1")`, cross-checked with `info threads`): the native thread id of
  our threads[].  gdb's name of the thread is the kernel's: our `comm`.
- py-bt prints "most recent call first", like our stack (innermost
  first); every `File "F", line N, in NAME` line is one frame.
- py-bt prints co_name, we print co_qualname: a frame agrees when the
  file and the line are equal and our qualname is py-bt's name or ends
  with "." + that name (`BaseEventLoop.run_forever` ~ `run_forever`,
  `run_loop_thread.<locals>.body` ~ `body`).
- One OS thread can hold several thread states: the thread that calls
  Interpreter.exec() has one in each interpreter.  py-bt prints them as
  one traceback (the called interpreter's frames first); we list one
  threads[] entry per thread state.  Our entries of one native id are
  concatenated, the newest interpreter (highest id) innermost: the
  scenarios enter a newer interpreter from an older one.

Where py-bt shows something else than we do, found here:

- `<built-in method NAME of ...>` / `<built-in function ...>` lines (a C
  function called through cfunction_call or cfunction_vectorcall_*), and
  "Waiting for the GIL" / "Garbage-collecting" lines, are C frames: we
  show Python frames only; they are left out of the comparison (counted
  in the diagnostics).  Calls the specialising interpreter makes directly
  (time.sleep, epoll.poll here) have no such line at all.
- "(unable to read python frame information)": py-bt found a
  _PyEval_EvalFrameDefault C frame whose Python frames it cannot decode.
  On 3.14.10 (a release build) the `frame` argument of every
  _PyEval_EvalFrameDefault is optimized out, so py-bt follows only the
  thread's *current* thread state's frame chain (found through
  _Py_tss_tstate or pthread_getspecific(), which py-bt *calls* in the
  live target: a function call, and a 10-15 s symbol search in gdb that
  makes the 3.14 runs slow): in the thread that runs a subinterpreter
  that chain ends at the subinterpreter's entry frame, and the main
  interpreter's frames below it (Interpreter.exec, the thread's body,
  threading's bootstrap) come out as two such lines.  3.15.2 keeps
  `frame` readable and decodes them all.  The frames before the first
  such line are compared, and we must show more frames than that: the
  rest cannot be compared.
- "Unable to locate python frame": a thread with no Python frame; we
  must have no frame for it either (no thread state, or an empty stack).
- py-bt prints the source line of each frame (indented four spaces);
  ignored.  It cannot tell a thread's interpreter, its threading name,
  its GIL state or a coroutine's kind.

Any other line of py-bt's output fails the test (its format changed), as
does a frame that differs, a frame one side has and the other not, a
thread that only one side has Python frames for, and a thread whose name
differs from our comm.

Output is TAP.  Environment: top_builddir (the CLI), PYAG_ROOT (the sid
root filesystem when run on the host), PYAG_PYTHONS (default
"3.14 3.15"), PYAG_QUICK=1 to skip.
"""

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "harness"))

import pyag_harness as H  # noqa: E402
from pyag_frontends import CLI  # noqa: E402
from pyag_harness import Tap  # noqa: E402

SCENARIOS = ("threads", "blocked", "subinterpreters")

# the gdb script CPython ships for the interpreter, as seen inside the root
LIBPYTHON = "/usr/share/gdb/auto-load/usr/bin/python%s-gdb.py"

FILE_RE = re.compile(r'^  File "(.*)", line (\d+|\?), in (.*)$')
# lines py-bt prints for C frames we do not show (libpython.py's
# is_other_python_frame)
C_FRAME_RE = re.compile(r"^  (<built-in (method|function) .*>|<wrapper_call .*>|"
                        r"PyCFunction invocation .*|Waiting for the GIL|"
                        r"Garbage-collecting)$")
UNREADABLE = "  (unable to read python frame information)"
OPTIMIZED_OUT = "  (frame information optimized out)"
NO_FRAME = "Unable to locate python frame"
THREAD_RE = re.compile(r'^Thread (\d+(?:\.\d+)?) \((?:Thread 0x[0-9a-f]+ )?\(?LWP (\d+)\)?'
                       r'(?: "(.*)")?\):$')
INFO_THREAD_RE = re.compile(r'^[* ] +(\d+(?:\.\d+)?) +(?:Thread 0x[0-9a-f]+ )?\(?LWP (\d+)\)?'
                            r'(?: "([^"]*)")?')


def gdb_in_root(root):
    """The gdb that runs in the root filesystem (as a path inside it), or
    None."""
    if root:
        return "/usr/bin/gdb" if os.path.exists(os.path.join(root, "usr/bin/gdb")) else None
    return shutil.which("gdb")


def run_pybt(pid, python, root):
    """gdb -p PID: info threads, thread apply all py-bt (in the root)."""
    argv = [gdb_in_root(root), "-q", "-nx", "-batch",
            "-iex", "set debuginfod enabled off",
            "-iex", "set auto-load python-scripts off",
            "-iex", "set pagination off", "-iex", "set width 0",
            "-p", str(pid),
            "-ex", "source " + LIBPYTHON % python,
            "-ex", "echo @@INFO@@\\n", "-ex", "info threads",
            "-ex", "echo @@PYBT@@\\n", "-ex", "thread apply all py-bt",
            "-ex", "echo @@END@@\\n"]
    p = H.run_in_root(argv, root, timeout=300)
    return p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class PyBt:
    """py-bt's view of a process: threads {lwp: Thread}, problems."""

    class Thread:
        def __init__(self, lwp, name):
            self.lwp = lwp
            self.name = name
            self.frames = []        # (name, filename, line), innermost first
            self.c_frames = 0       # lines for C frames, left out
            self.unreadable = 0     # "(unable to read python frame information)"
            self.readable = None    # frames before the first unreadable line
            self.no_frame = False   # "Unable to locate python frame"

    def __init__(self, out):
        self.threads = {}
        self.problems = []
        self.info = {}              # gdb thread number -> (lwp, name)
        if "@@INFO@@" not in out or "@@END@@" not in out:
            self.problems.append("gdb did not run every command")
            return
        info = out.split("@@INFO@@\n", 1)[1].split("@@PYBT@@\n", 1)[0]
        for line in info.splitlines():
            m = INFO_THREAD_RE.match(line)
            if m:
                self.info[m.group(1)] = (int(m.group(2)), m.group(3))
        body = out.split("@@PYBT@@\n", 1)[1].split("@@END@@\n", 1)[0]
        cur = None
        for line in body.splitlines():
            m = THREAD_RE.match(line)
            if m:
                lwp = int(m.group(2))
                if self.info.get(m.group(1), (lwp,))[0] != lwp:
                    self.problems.append("thread %s: LWP %d, info threads says %r"
                                         % (m.group(1), lwp, self.info.get(m.group(1))))
                cur = self.threads[lwp] = PyBt.Thread(lwp, m.group(3))
                continue
            if cur is None or not line.strip():
                continue
            m = FILE_RE.match(line)
            if m:
                cur.frames.append((m.group(3), m.group(1),
                                   int(m.group(2)) if m.group(2) != "?" else None))
            elif line.startswith("    "):
                pass                            # the frame's source line
            elif line == "Traceback (most recent call first):":
                pass
            elif C_FRAME_RE.match(line):
                cur.c_frames += 1
            elif line in (UNREADABLE, OPTIMIZED_OUT):
                if cur.readable is None:
                    cur.readable = len(cur.frames)
                cur.unreadable += 1
            elif line == NO_FRAME:
                cur.no_frame = True
            elif line.startswith("[Inferior ") or line.startswith("warning:"):
                pass
            else:
                self.problems.append("thread %d: unexpected py-bt line %r" % (cur.lwp, line))
        if set(lwp for lwp, _ in self.info.values()) != set(self.threads):
            self.problems.append("info threads lists %s, thread apply all %s" % (
                sorted(lwp for lwp, _ in self.info.values()), sorted(self.threads)))


def our_stacks(doc):
    """{native thread id: (frames, comm, [(interpreter, name)])} from our
    JSON: the stacks of every thread state of one OS thread, the newest
    interpreter's innermost."""
    by_tid = {}
    for th in doc["threads"]:
        by_tid.setdefault(th["native_thread_id"], []).append(th)
    res = {}
    for tid, ths in by_tid.items():
        ths.sort(key=lambda th: -th["interpreter"])
        frames = [(f["function"], f["filename"], f["line"]) for th in ths for f in th["stack"]]
        res[tid] = (frames, ths[0]["comm"], [(th["interpreter"], th["name"]) for th in ths])
    return res


def frame_agrees(ours, theirs):
    """Our (qualname, file, line) against py-bt's (co_name, file, line)."""
    qual, filename, line = ours
    name, t_filename, t_line = theirs
    return (filename == t_filename and line == t_line and
            (qual == name or qual.endswith("." + name)))


def show(frames):
    return "\n".join("    %s %s:%s" % f for f in frames) or "    (none)"


def compare(label, doc, pybt):
    """[(ok, description, diagnostics)] for one process."""
    res = [(not pybt.problems, "%s: py-bt's output parses, one traceback a thread" % label,
            "\n".join(pybt.problems[:10]))]
    ours = our_stacks(doc)
    for tid in sorted(set(ours) - set(pybt.threads)):
        res.append((False, "%s: thread %d of our threads[] is a thread gdb sees"
                    % (label, tid), "gdb's threads: %s" % sorted(pybt.threads)))
    for lwp in sorted(pybt.threads):
        t = pybt.threads[lwp]
        frames, comm, states = ours.get(lwp, ([], None, []))
        desc = "%s: thread %d %r" % (label, lwp, t.name)
        if states:
            desc += " (%s)" % ", ".join("interpreter %d %r" % s for s in states)
        if lwp in ours and comm != t.name:
            res.append((False, desc + ": our comm is gdb's thread name",
                        "comm %r, gdb %r" % (comm, t.name)))
        if t.no_frame or not (t.frames or t.unreadable):
            res.append((not frames, desc + ": no Python frame for py-bt, none in "
                        "our stack", "ours:\n" + show(frames)))
            continue
        if t.readable is None:
            ok = (len(frames) == len(t.frames) and
                  all(frame_agrees(a, b) for a, b in zip(frames, t.frames)))
            res.append((ok, desc + ": py-bt's %d frames (co_name) equal our stack "
                        "(co_qualname)%s" % (len(t.frames), ", %d C frames left out"
                                             % t.c_frames if t.c_frames else ""),
                        "ours:\n%s\npy-bt:\n%s" % (show(frames), show(t.frames))))
            continue
        # py-bt could not decode a part of the stack: compare what it did
        # decode, and we must have more
        k = t.readable
        ok = (len(frames) > k and
              all(frame_agrees(a, b) for a, b in zip(frames[:k], t.frames[:k])) and
              len(t.frames) == k)
        res.append((ok, desc + ": py-bt's first %d frames equal our stack; it cannot "
                    "decode the %d older frames we show (%d unreadable frame lines)"
                    % (k, max(len(frames) - k, 0), t.unreadable),
                    "ours:\n%s\npy-bt (decoded before the first unreadable line):\n%s"
                    % (show(frames), show(t.frames))))
    return res


def run_one(python, name, root):
    """Start the scenario, read it with our CLI and with py-bt: (seconds,
    [(ok, description, diagnostics)])."""
    label = "py-bt %s %s" % (python, name)
    start = time.monotonic()
    try:
        with H.Scenario(name, python=python, root=root) as scen:
            p = subprocess.run([CLI, "--format=json", str(scen.pid)], capture_output=True,
                               timeout=120)
            if p.returncode != 0:
                return 0, [(False, "%s: py-async-graph --format=json runs" % label,
                            p.stderr.decode("utf-8", "replace"))]
            doc = json.loads(p.stdout)
            out, err = run_pybt(scen.pid, python, root)
    except Exception as e:
        return 0, [(False, "%s: runs" % label, e)]
    if "Undefined command" in err or "@@PYBT@@" not in out:
        return 0, [(False, "%s: gdb runs py-bt" % label, (out + err)[-2000:])]
    return time.monotonic() - start, compare(label, doc, PyBt(out))


def main():
    tap = Tap()
    if os.environ.get("PYAG_QUICK"):
        tap.skip("py-bt", "PYAG_QUICK set")
        tap.done()
        return 0
    why = H.unavailable_reason()
    if why:
        tap.skip("py-bt", why)
        tap.done()
        return 0
    root = H.default_root()
    if not gdb_in_root(root):
        tap.skip("py-bt", "no gdb in %s" % (root or "this system"))
        tap.done()
        return 0
    jobs = []
    for python in os.environ.get("PYAG_PYTHONS", "3.14 3.15").split():
        if not H.python_available(python, root):
            tap.skip("py-bt %s" % python, "no python%s" % python)
            continue
        if not os.path.exists((root or "") + LIBPYTHON % python):
            tap.skip("py-bt %s" % python, "no %s (python%s-dbg)" % (LIBPYTHON % python, python))
            continue
        for name in SCENARIOS:
            why = (H.subinterpreters_unavailable(python, root)
                   if name == "subinterpreters" else None)
            if why:
                tap.skip("py-bt %s %s" % (python, name), why)
            elif python in H.scenario_versions(name):
                jobs.append((python, name))
    # gdb spends its time searching symbols (3.14: 10-20 s a process, see
    # above), one core each: run them side by side, the longest first
    jobs.sort(key=lambda job: job[0] != "3.14")
    with concurrent.futures.ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as ex:
        results = list(ex.map(lambda job: run_one(job[0], job[1], root), jobs))
    for (python, name), (seconds, checks) in zip(jobs, results):
        tap.diag("py-bt %s %s: %.1f s" % (python, name, seconds))
        for ok, desc, diag in checks:
            tap.ok(ok, desc, diag)
    tap.done()
    return 0


if __name__ == "__main__":
    sys.exit(main())
