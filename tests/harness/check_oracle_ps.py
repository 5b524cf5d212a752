#!/usr/bin/env python3
"""Sanity test of the scenario oracles against CPython's own external tool.

For each scenario and each of python3.14 and python3.15: start the
scenario, run `python3.X -m asyncio ps PID` (inside the root filesystem
when run on the host), and check

  - the set of task ids in the table equals the oracle's tasks (kind
    "task"), or the subset CPython's tool is known to see;
  - every row starts with the tid, task id and task name columns expected
    from the oracle (tid: the owning thread's native id, 0 for tasks of
    exited threads), with CPython's known rendering of names;
  - where the tool is known to fail, that it fails that way.

The expected disagreements are findings about CPython, documented in
tests/scenarios/README.md ("Findings"):

  3.14: only the main thread's task list and the interpreter's list are
        read (tasks of other live threads are missing);
  3.14: a non-ASCII name is read from the ASCII data offset: 16 NUL bytes
        (the compact header's utf8_length and utf8 fields) then the string's
        latin-1/UCS-2/UCS-4 data, min(len, 255) bytes, decoded as UTF-8;
        if that does not decode, the whole `ps` fails with UnicodeDecodeError;
  3.14, 3.15: names are cut to 255 characters;
  3.14, 3.15: only the newest interpreter is read (the head of the
        runtime's interpreter list): with a subinterpreter, the main
        interpreter's tasks are missing.

Output: TAP.  Usage (from the repository root):
    python3 tests/harness/check_oracle_ps.py [--scenario NAME]... [--python 3.14]...
            [--jobs 2] [--timeout 60]
On the host the root filesystem is $PYAG_ROOT (default
/var/cache/py-async-graph/sid-root); inside it the interpreters run
directly (python3.14 tests/harness/check_oracle_ps.py).
"""

import argparse
import concurrent.futures
import os
import signal
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pyag_harness as H  # noqa: E402

NAME_CAP = 255


# ---------------------------------------------------------------------------
# what CPython's ps is expected to show

def _compact_data(name):
    """The bytes of a compact non-ASCII str object's character data."""
    top = max(map(ord, name))
    if top < 0x100:
        return name.encode("latin-1")
    if top < 0x10000:
        return name.encode("utf-16-le")
    return name.encode("utf-32-le")


def ps_name(name, python):
    """The task name as `python -m asyncio ps` of that version renders it.
    Raises UnicodeDecodeError where the tool itself fails with it."""
    if name.isascii() or python != "3.14":
        return name[:NAME_CAP]
    n = min(len(name), NAME_CAP)
    raw = (b"\0" * 16 + _compact_data(name))[:n]
    return raw.decode("utf-8")


def expected_tasks(oracle, python):
    """(tasks ps should list, note) for this version."""
    tasks = [t for t in oracle["tasks"] if t["kind"] == "task"]
    interps = {t.get("interpreter", 0) for t in tasks}
    if len(interps) > 1:
        # the newest interpreter has the highest id; it has one thread
        # here, so 3.14's main-thread rule takes all of its tasks
        newest = max(interps)
        seen = [t for t in tasks if t.get("interpreter", 0) == newest]
        return seen, ("%d of %d tasks: only the newest interpreter (%d) is read"
                      % (len(seen), len(tasks), newest))
    if python == "3.14":
        main = {th["native_thread_id"] for th in oracle["threads"] if th.get("main")}
        seen = [t for t in tasks if t["native_thread_id"] in main
                or t["native_thread_id"] == 0]
        if len(seen) != len(tasks):
            return seen, ("%d of %d tasks: 3.14 reads only the main thread's "
                          "and the interpreter's task lists" % (len(seen), len(tasks)))
        return seen, None
    return tasks, None


def check(python, name, root, timeout):
    """Run one scenario; return (ok, description, diagnostics)."""
    label = "%s %s" % (python, name)
    try:
        with H.Scenario(name, python=python, root=root, timeout=timeout) as s:
            p = H.asyncio_ps(s.pid, python, root)
            oracle = s.oracle
    except Exception as e:  # the scenario did not start, or ps hung
        return False, label + ": scenario runs", str(e)
    want, note = expected_tasks(oracle, python)
    names = {}
    bad_name = None
    for t in want:
        try:
            names[t["id"]] = ps_name(t["name"], python)
        except UnicodeDecodeError as e:
            bad_name = (t, e)
    if bad_name is not None:
        t, e = bad_name
        desc = ("%s: ps fails with UnicodeDecodeError as expected (task %r: "
                "a non-ASCII name read from the ASCII data offset)"
                % (label, t["name"][:20] + ("..." if len(t["name"]) > 20 else "")))
        ok = p.returncode != 0 and "UnicodeDecodeError" in p.stderr + p.stdout
        return ok, desc, "ps exit %d\n%s%s" % (p.returncode, p.stdout[-1500:],
                                                 p.stderr[-1500:])
    if p.returncode != 0:
        return False, label + ": ps runs", "ps exit %d\n%s%s" % (
            p.returncode, p.stdout[-1500:], p.stderr[-3000:])
    rows = H.parse_ps_table(p.stdout)
    got = {r[1] for r in rows}
    want_ids = {t["id"] for t in want}
    problems = []
    for i in sorted(want_ids - got):
        problems.append("missing from ps: %s" % i)
    for i in sorted(got - want_ids):
        problems.append("not in the oracle: %s" % i)
    by_id = {t["id"]: t for t in want}
    for line in p.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 2 or parts[1] not in by_id:
            continue
        t = by_id[parts[1]]
        prefix = "%-10s %-20s %-20s " % (t["native_thread_id"], t["id"], names[t["id"]])
        if not line.startswith(prefix):
            problems.append("row %r does not start with %r" % (line[:120], prefix[:120]))
    desc = "%s: ps lists the oracle's %d tasks" % (label, len(want_ids))
    if note:
        desc += " (%s)" % note
    return not problems, desc, "\n".join(problems[:20])


# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", action="append", default=[],
                    help="only this scenario (repeatable)")
    ap.add_argument("--python", action="append", default=[],
                    help="only this version, e.g. 3.14 (repeatable)")
    ap.add_argument("--jobs", "-j", type=int, default=2,
                    help="scenarios run in parallel (default 2)")
    ap.add_argument("--timeout", type=float, default=H.DEFAULT_TIMEOUT,
                    help="seconds to wait for a scenario to be ready")
    args = ap.parse_args(argv)

    root = H.default_root()
    pythons = args.python or list(H.PYTHONS)
    names = args.scenario or H.list_scenarios()
    unknown = [n for n in names if n not in H.list_scenarios()]
    if unknown:
        ap.error("unknown scenario(s): %s" % ", ".join(unknown))

    plan = []  # (python, name, skip reason or None)
    for python in pythons:
        why = H.unavailable_reason(python)
        if why is None and not H.python_available(python, root):
            why = "no python%s" % python
        for name in names:
            if why:
                plan.append((python, name, why))
            elif python not in H.scenario_versions(name):
                plan.append((python, name, "scenario supports only %s" %
                             ", ".join(H.scenario_versions(name))))
            else:
                plan.append((python, name, None))

    print("1..%d" % len(plan), flush=True)
    lock = threading.Lock()
    failed = 0

    def job(item):
        python, name, why = item
        if why:
            return None
        return check(python, name, root, args.timeout)

    ex = concurrent.futures.ThreadPoolExecutor(max(1, args.jobs))
    try:
        for n, (item, res) in enumerate(zip(plan, ex.map(job, plan)), 1):
            python, name, why = item
            with lock:
                if res is None:
                    print("ok %d - %s %s # SKIP %s" % (n, python, name, why))
                else:
                    ok, desc, diag = res
                    print("%s %d - %s" % ("ok" if ok else "not ok", n, desc))
                    if not ok:
                        failed += 1
                        for line in str(diag).splitlines():
                            print("# " + line)
                sys.stdout.flush()
    finally:
        # on an interrupt: drop what has not started; running scenarios
        # are killed by their own context managers
        ex.shutdown(wait=True, cancel_futures=True)
    return 1 if failed else 0


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
