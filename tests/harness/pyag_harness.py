"""Run py-async-graph's scenario programs (tests/scenarios) and read their
oracles.

Works on the host (the target interpreters are in the sid root filesystem,
reached with chroot) and inside that root filesystem (run directly).
Standard library only; Python >= 3.11.

    with Scenario("gather", python="3.14", root=root_path()) as s:
        s.pid, s.oracle, s.out_dir

    root=None: run directly (we are inside the root filesystem).
    root=PATH: run `chroot PATH /usr/bin/python3.X`; the scenarios are
    copied under PATH/var/tmp and every path given to the program is the
    path as seen inside the root.  Pids are the same on both sides.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS_DIR = os.path.normpath(os.path.join(HERE, "..", "scenarios"))
DEFAULT_ROOT = "/var/cache/py-async-graph/sid-root"
PYTHONS = ("3.14", "3.15")
DEFAULT_TIMEOUT = 60.0

_VERSIONS_RE = re.compile(r"^VERSIONS\s*=\s*[\(\[]([^\)\]]*)[\)\]]", re.M)


# ---------------------------------------------------------------------------
# where the interpreters are

def root_path():
    """The sid root filesystem: $PYAG_ROOT, default DEFAULT_ROOT."""
    return os.environ.get("PYAG_ROOT") or DEFAULT_ROOT


def inside_root():
    """True when the target interpreters are installed here, i.e. we run
    inside the root filesystem (or on a system that has them)."""
    return any(os.path.exists("/usr/bin/python" + v) for v in PYTHONS)


def default_root():
    """None inside the root filesystem, else root_path()."""
    return None if inside_root() else root_path()


def unavailable_reason(python=None):
    """Why scenarios cannot run here (a sentence), or None if they can."""
    versions = [python] if python else list(PYTHONS)
    if inside_root():
        missing = [v for v in versions if not os.path.exists("/usr/bin/python" + v)]
        if len(missing) == len(versions):
            return "no /usr/bin/python%s here" % " or python".join(missing)
        return None
    root = root_path()
    if not os.path.isdir(root):
        return "no root filesystem at %s (set PYAG_ROOT)" % root
    if not any(os.path.exists(os.path.join(root, "usr/bin/python" + v)) for v in versions):
        return "no python%s in %s" % (" or python".join(versions), root)
    if not os.path.exists(os.path.join(root, "proc/self/maps")):
        return "%s/proc is not mounted" % root
    if os.geteuid() != 0:
        return "chroot into %s needs root" % root
    return None


def available(python=None):
    return unavailable_reason(python) is None


def python_available(python, root=None):
    """Is /usr/bin/python3.X there (in root when given)?"""
    return os.path.exists((root or "") + "/usr/bin/python" + python)


# ---------------------------------------------------------------------------
# scenarios

def scenario_versions(name):
    """The Python versions a scenario supports: its module-level
    VERSIONS = ("3.14", ...) tuple, read without importing it; default
    PYTHONS."""
    path = os.path.join(SCENARIOS_DIR, name + ".py")
    with open(path, encoding="utf-8") as f:
        m = _VERSIONS_RE.search(f.read())
    if not m:
        return PYTHONS
    return tuple(re.findall(r"""["']([0-9.]+)["']""", m.group(1)))


def list_scenarios(python=None):
    """Names of the scenarios (file names without .py) that support
    `python` ("3.14"...), sorted; all of them if python is None."""
    names = []
    for fn in sorted(os.listdir(SCENARIOS_DIR)):
        if not fn.endswith(".py") or fn.startswith("_"):
            continue
        name = fn[:-3]
        if python is None or python in scenario_versions(name):
            names.append(name)
    return names


def run_in_root(argv, root=None, timeout=600, **kwargs):
    """subprocess.run(argv) inside the root filesystem (chroot ROOT argv)
    or directly when root is None.  Output is captured (bytes) unless the
    caller says otherwise."""
    if root:
        argv = ["chroot", root] + list(argv)
    if "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs.setdefault("capture_output", True)
    return subprocess.run(argv, timeout=timeout, **kwargs)


class ScenarioError(RuntimeError):
    pass


class Scenario:
    """A running scenario: a context manager.

    On entry: copies tests/scenarios to a fresh temporary directory (under
    ROOT/var/tmp when root is given), starts `python3.X NAME.py --out DIR`
    in its own process group and waits (timeout seconds) for DIR/ready.
    Raises ScenarioError, with the scenario's log, if it exits early, times
    out or writes no oracle.
    Attributes: pid, oracle (the parsed oracle.json), out_dir (as seen from
    here), inner_out_dir (as seen by the scenario), log_path, python, name.
    On exit (also on exceptions and KeyboardInterrupt): kills the process
    group and removes the temporary directory.
    """

    def __init__(self, name, python="3.14", root=None, timeout=DEFAULT_TIMEOUT,
                 keep=False):
        self.name = name
        self.python = python
        self.root = root
        self.timeout = timeout
        self.keep = keep
        self.proc = None
        self.pid = None
        self.oracle = None
        self.tmp = None
        self.out_dir = None
        self.inner_out_dir = None
        self.log_path = None

    # paths ----------------------------------------------------------------
    def _inner(self, path):
        """path as seen by the scenario."""
        if not self.root:
            return path
        root = os.path.abspath(self.root)
        return "/" + os.path.relpath(path, root)

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # lifecycle ------------------------------------------------------------
    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _start(self):
        if not os.path.exists(os.path.join(SCENARIOS_DIR, self.name + ".py")):
            raise ScenarioError("no scenario %r in %s" % (self.name, SCENARIOS_DIR))
        if not python_available(self.python, self.root):
            raise ScenarioError("no /usr/bin/python%s%s" % (
                self.python, " in " + self.root if self.root else ""))
        base = os.path.join(self.root, "var", "tmp") if self.root else None
        self.tmp = tempfile.mkdtemp(prefix="pyag-%s-%s-" % (self.name, self.python),
                                    dir=base)
        os.chmod(self.tmp, 0o755)
        scen_dir = os.path.join(self.tmp, "scenarios")
        shutil.copytree(SCENARIOS_DIR, scen_dir,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.out_dir = os.path.join(self.tmp, "out")
        os.mkdir(self.out_dir)
        self.inner_out_dir = self._inner(self.out_dir)
        self.log_path = os.path.join(self.out_dir, "log")
        argv = ["/usr/bin/python" + self.python,
                self._inner(os.path.join(scen_dir, self.name + ".py")),
                "--out", self.inner_out_dir]
        if self.root:
            argv = ["chroot", self.root] + argv
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
                   LC_ALL="C.UTF-8")
        for k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONASYNCIODEBUG",
                  "PYTHONDEVMODE", "PYTHONTRACEMALLOC"):
            env.pop(k, None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True, cwd="/")
        self.pid = self.proc.pid
        ready = os.path.join(self.out_dir, "ready")
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(ready):
            rc = self.proc.poll()
            if rc is not None:
                raise ScenarioError("scenario %s (python%s) exited with status %s "
                                    "before ready; log:\n%s" % (
                                        self.name, self.python, rc, self.log()))
            if time.monotonic() > deadline:
                raise ScenarioError("scenario %s (python%s) not ready after %gs; "
                                    "log:\n%s" % (self.name, self.python,
                                                  self.timeout, self.log()))
            time.sleep(0.02)
        try:
            with open(os.path.join(self.out_dir, "oracle.json"), encoding="utf-8") as f:
                self.oracle = json.load(f)
        except (OSError, ValueError) as e:
            raise ScenarioError("scenario %s (python%s): bad oracle.json: %s; "
                                "log:\n%s" % (self.name, self.python, e, self.log()))
        if self.oracle.get("pid") != self.pid:
            raise ScenarioError("scenario %s: oracle pid %s is not the process "
                                "%s" % (self.name, self.oracle.get("pid"), self.pid))

    def close(self):
        """Kill the process group, reap it, remove the temporary directory."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        tmp, self.tmp = self.tmp, None
        if tmp and not self.keep:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# CPython's own external tool

def parse_ps_table(text):
    """Rows of `python3.X -m asyncio ps` output: list of
    (tid, task_id, rest_of_line); header and dash line skipped."""
    rows = []
    lines = text.splitlines()
    start = 0
    for i, line in enumerate(lines):
        if line.startswith("-" * 20):
            start = i + 1
            break
    else:
        return rows
    for line in lines[start:]:
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[1].startswith("0x"):
            rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return rows


def asyncio_ps(pid, python, root=None, timeout=120):
    """Run `python3.X -m asyncio ps PID` (inside the root); returns the
    CompletedProcess with text stdout/stderr."""
    p = run_in_root(["/usr/bin/python" + python, "-m", "asyncio", "ps", str(pid)],
                    root, timeout=timeout, env=dict(os.environ, LC_ALL="C.UTF-8"))
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    return p


if __name__ == "__main__":
    # python3 pyag_harness.py [PYTHON]: list the scenarios
    print("\n".join(list_scenarios(sys.argv[1] if len(sys.argv) > 1 else None)))
