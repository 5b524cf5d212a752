"""Use the installed Debian packages as a user would, with no configuration:
no ~/.gdbinit, no ~/.lldbinit, no variable of ours, only the commands the
README gives. Every graph is compared with the scenario's in-process oracle
(what asyncio.format_call_graph() returned inside the process). Prints TAP
lines (`ok N - ...`, `not ok N - ...`, `ok N - ... # SKIP why`).

    python3 installed_check.py LABEL [--root ROOT] [--python 3.14]
                               [--scenario taskgroups]

Inside the root filesystem (the targets' interpreters are here): no --root.
On the host: --root ROOT, the targets run in ROOT with chroot and the
debuggers read them from outside, as they would read a container.
Standard library only.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import pyag_harness as H  # noqa: E402

LLDBINIT = "/usr/share/py-async-graph/lldbinit"
COMPLETION = "/usr/share/bash-completion/completions/py-async-graph"


class Tap:
    def __init__(self, label):
        self.label = label
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s: %s" % (self.n, self.label, desc))
        else:
            self.failed += 1
            print("not ok %d - %s: %s" % (self.n, self.label, desc))
            if diag:
                for line in str(diag).splitlines()[:40]:
                    print("# " + line)
        sys.stdout.flush()

    def skip(self, desc, why):
        self.n += 1
        print("ok %d - %s: %s # SKIP %s" % (self.n, self.label, desc, why))
        sys.stdout.flush()


def split_blocks(text):
    """One format_call_graph block per task, keyed by the task's id."""
    blocks, cur = {}, None
    for line in text.split("\n"):
        if line.startswith("* "):
            m = re.search(r"id=(0x[0-9a-f]+)\)", line)
            cur = m.group(1) if m else None
            blocks[cur] = [line]
        elif cur is not None and not line.startswith(("(lldb)", "[Inferior ")):
            # (the debuggers' own lines: lldb's echoed commands, gdb's detach)
            blocks[cur].append(line)
    return {k: "\n".join(v).rstrip("\n") for k, v in blocks.items()}


def compare_callgraph(text, oracle):
    """None when every waiting task's block equals the oracle's
    format_call_graph text, else a description of the first difference."""
    want = [t for t in oracle["tasks"]
            if t["kind"] == "task" and t.get("callgraph") is not None and not t.get("running")]
    if not want:
        return "the oracle has no task"
    blocks = split_blocks(text)
    bad = [t for t in want if blocks.get(t["id"]) != t["callgraph"]]
    if not bad:
        return None
    t = bad[0]
    return "%d of %d tasks differ; first %s %r:\ngot:\n%s\noracle:\n%s\n--- whole output:\n%s" % (
        len(bad), len(want), t["id"], t["name"], blocks.get(t["id"], "<missing>"),
        t["callgraph"], text[-3000:])


def tree_missing(text, oracle):
    """Oracle task names that the tree does not show as '(T) NAME'."""
    names = [t["name"] for t in oracle["tasks"] if t["kind"] == "task"]
    return [n for n in names if "(T) %s\n" % n not in text + "\n"]


def find_lldb():
    """`lldb`, else the highest-numbered lldb-NN on PATH."""
    if shutil.which("lldb", path=CLEAN_PATH):
        return shutil.which("lldb", path=CLEAN_PATH)
    best = (-1, None)
    for d in CLEAN_PATH.split(":"):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            m = re.fullmatch(r"lldb-(\d+)", n)
            if m and os.access(os.path.join(d, n), os.X_OK):
                best = max(best, (int(m.group(1)), os.path.join(d, n)))
    return best[1]


CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def run(argv, home, timeout=300):
    """Run a command in a clean environment: PATH, an empty HOME, a UTF-8
    locale and nothing else."""
    env = {"PATH": CLEAN_PATH, "HOME": home, "LANG": "C.UTF-8", "TERM": "dumb"}
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, cwd=home)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def describe(argv, rc, out, err):
    return "$ %s\nexit %d\n--- stdout:\n%s\n--- stderr:\n%s" % (
        " ".join(argv), rc, out[-2500:], err[-2500:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("label")
    ap.add_argument("--root", default=None)
    ap.add_argument("--python", default="3.14")
    ap.add_argument("--scenario", default="taskgroups")
    args = ap.parse_args()
    tap = Tap(args.label)
    home = tempfile.mkdtemp(prefix="pyag-user-")
    os.chmod(home, 0o755)
    try:
        checks(tap, args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


def checks(tap, args, home):
    for f in (".gdbinit", ".lldbinit", ".config/gdb/gdbinit"):
        tap.ok(not os.path.exists(os.path.join(home, f)), "no ~/%s" % f)

    # man page and bash completion: installed where the system finds them
    rc, out, err = run(["man", "-P", "cat", "py-async-graph"], home)
    tap.ok(rc == 0 and "asyncio" in out and "--format" in out,
           "man py-async-graph shows the manual page", describe(["man", "py-async-graph"], rc, out, err))
    rc, out, err = run(["man", "-P", "cat", "3", "libpyag"], home)
    tap.ok(rc == 0 and "pyag_capture" in out, "man 3 libpyag shows the manual page",
           describe(["man", "3", "libpyag"], rc, out, err))
    script = r'''
        if [ -f /usr/share/bash-completion/bash_completion ]; then
            . /usr/share/bash-completion/bash_completion
            # bash-completion loads a command's completion on first use
            if declare -F _comp_load >/dev/null; then _comp_load py-async-graph
            elif declare -F __load_completion >/dev/null; then __load_completion py-async-graph
            else . %s; fi
        else
            . %s
        fi
        COMP_WORDS=(py-async-graph --format = ""); COMP_CWORD=3
        COMP_LINE="py-async-graph --format="; COMP_POINT=${#COMP_LINE}
        _py_async_graph && echo "format: ${COMPREPLY[*]}"
        COMP_WORDS=(py-async-graph --layout = ""); COMP_CWORD=3
        _py_async_graph && echo "layout: ${COMPREPLY[*]}"
    ''' % (COMPLETION, COMPLETION)
    rc, out, err = run(["bash", "-c", script], home)
    tap.ok(rc == 0 and "format: tree callgraph table csv json dot threads" in out
           and "layout: auto offsets dwarf" in out,
           "bash completion of --format= and --layout=", describe(["bash", "-c", "..."], rc, out, err))

    why = H.unavailable_reason(args.python) if args.root is None else None
    if args.root is not None and not H.python_available(args.python, args.root):
        why = "no python%s in %s" % (args.python, args.root)
    if why:
        tap.skip("the graphs of a python%s scenario" % args.python, why)
        return
    python = (args.root or "") + "/usr/bin/python" + args.python
    lldb = find_lldb()
    with H.Scenario(args.scenario, python=args.python, root=args.root) as s:
        oracle = s.oracle
        pid = str(s.pid)
        core = os.path.join(home, "core")

        # ---- live ----------------------------------------------------------
        argv = ["py-async-graph", pid]
        rc, out, err = run(argv, home)
        miss = tree_missing(out, oracle)
        tap.ok(rc == 0 and not miss, "live: py-async-graph PID shows every task (missing: %s)" % miss,
               describe(argv, rc, out, err))
        argv = ["py-async-graph", "--format=callgraph", pid]
        rc, out, err = run(argv, home)
        d = compare_callgraph(out, oracle) if rc == 0 else describe(argv, rc, out, err)
        tap.ok(d is None, "live: py-async-graph --format=callgraph PID equals the oracle", d)

        argv = ["gdb", "-p", pid, "-batch", "-ex", "py-async-graph"]
        rc, out, err = run(argv, home)
        miss = tree_missing(out, oracle)
        tap.ok(rc == 0 and not miss, "live: gdb -p PID -batch -ex py-async-graph shows every task "
               "(missing: %s)" % miss, describe(argv, rc, out, err))
        argv = ["gdb", "-p", pid, "-batch", "-ex", "py-async-graph --format=callgraph"]
        rc, out, err = run(argv, home)
        d = compare_callgraph(out, oracle) if rc == 0 else describe(argv, rc, out, err)
        tap.ok(d is None, "live: gdb ... -ex 'py-async-graph --format=callgraph' equals the oracle", d)

        # the installed binding, with the system's python3 (no PYTHONPATH)
        code = ("import sys, pyag\n"
                "g = pyag.capture(int(sys.argv[1]))\n"
                "for t in g.tasks:\n"
                "    if t.future.kind == 'task':\n"
                "        print(pyag.format_call_graph(g, t.future.id))\n")
        argv = ["python3", "-c", code, pid]
        rc, out, err = run(argv, home)
        d = compare_callgraph(out, oracle) if rc == 0 else describe(argv, rc, out, err)
        tap.ok(d is None, "live: python3 -c 'import pyag; pyag.format_call_graph(...)' "
               "of every task equals the oracle", d)

        if lldb:
            argv = [lldb, "-p", pid, "-b", "-o", "command source " + LLDBINIT,
                    "-o", "async graph --format=callgraph"]
            rc, out, err = run(argv, home)
            d = compare_callgraph(out, oracle) if rc == 0 else describe(argv, rc, out, err)
            tap.ok(d is None, "live: %s -o 'command source %s' -o 'async graph "
                   "--format=callgraph' equals the oracle" % (os.path.basename(lldb), LLDBINIT),
                   d if d is None else d + "\n" + describe(argv, rc, out, err)[-1500:])
        else:
            tap.skip("live: lldb", "no lldb or lldb-NN on PATH")

        # ---- a core of the same process (gcore) -------------------------------
        argv = ["gdb", "-p", pid, "-batch", "-ex", "gcore " + core]
        rc, out, err = run(argv, home)
        have_core = os.path.exists(core)
        tap.ok(have_core, "gcore wrote a core of the scenario", describe(argv, rc, out, err))
        if not have_core:
            return
        argv = ["gdb", python, core, "-batch", "-ex", "py-async-graph"]
        rc, out, err = run(argv, home)
        miss = tree_missing(out, oracle)
        tap.ok(rc == 0 and not miss, "core: gdb PYTHON CORE -batch -ex py-async-graph shows every "
               "task (missing: %s)" % miss, describe(argv, rc, out, err))
        argv = ["gdb", python, core, "-batch", "-ex", "py-async-graph --format=callgraph"]
        rc, out, err = run(argv, home)
        d = compare_callgraph(out, oracle) if rc == 0 else describe(argv, rc, out, err)
        tap.ok(d is None, "core: gdb PYTHON CORE ... --format=callgraph equals the oracle", d)

        argv = ["py-async-graph", "--format=callgraph", "--core", core]
        rc, out, err = run(argv, home)
        d = compare_callgraph(out, oracle) if rc == 0 else describe(argv, rc, out, err)
        tap.ok(d is None, "core: py-async-graph --format=callgraph --core CORE equals the oracle", d)

        if lldb:
            argv = [lldb, "-c", core, python, "-b", "-o", "command source " + LLDBINIT,
                    "-o", "async graph --format=callgraph"]
            rc, out, err = run(argv, home)
            d = compare_callgraph(out, oracle) if rc == 0 else describe(argv, rc, out, err)
            tap.ok(d is None, "core: %s -c CORE PYTHON -o 'command source %s' -o "
                   "'async graph --format=callgraph' equals the oracle"
                   % (os.path.basename(lldb), LLDBINIT),
                   d if d is None else d + "\n" + describe(argv, rc, out, err)[-1500:])
        else:
            tap.skip("core: lldb", "no lldb or lldb-NN on PATH")


if __name__ == "__main__":
    sys.exit(main())
