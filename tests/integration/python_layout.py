"""Compare the binding's ctypes structs (python/pyag/_ffi.py) with the C
header (include/pyag.h): size and every field's offset, from a C program
compiled on the spot. Prints one line per struct, "ok NAME" or
"bad NAME: ..."; exits 77 (skip) when no C compiler is found.

    python3 python_layout.py TOP_SRCDIR
"""
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else "."
    sys.path.insert(0, os.path.join(top, "python"))
    from pyag import _ffi
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("no C compiler")
        return 77
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "pyag.h"',
             "int main(void) {"]
    for cname, cls in sorted(_ffi.STRUCTS.items()):
        lines.append('printf("%s sizeof %%zu\\n", sizeof(struct %s));' % (cname, cname))
        for fname, _ in cls._fields_:
            lines.append('printf("%s %s %%zu %%zu\\n", offsetof(struct %s, %s), '
                         'sizeof(((struct %s *)0)->%s));'
                         % (cname, fname, cname, fname, cname, fname))
    lines.append("return 0; }")
    tmp = tempfile.mkdtemp(prefix="pyag-layout-")
    try:
        src = os.path.join(tmp, "layout.c")
        exe = os.path.join(tmp, "layout")
        with open(src, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = subprocess.run([cc, "-I", os.path.join(top, "include"), "-o", exe, src],
                           capture_output=True, text=True)
        if p.returncode:
            print("bad compile: the header has other fields than the binding:")
            print(p.stderr[-2000:])
            return 1
        out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    c = {}
    for line in out.splitlines():
        parts = line.split()
        c[(parts[0], parts[1])] = tuple(int(x) for x in parts[2:])
    bad = 0
    for cname, cls in sorted(_ffi.STRUCTS.items()):
        problems = []
        if c[(cname, "sizeof")] != (ctypes.sizeof(cls),):
            problems.append("sizeof %d, ctypes %d" % (c[(cname, "sizeof")][0],
                                                      ctypes.sizeof(cls)))
        for fname, ftype in cls._fields_:
            want = c[(cname, fname)]
            got = (getattr(cls, fname).offset, ctypes.sizeof(ftype))
            if want != got:
                problems.append("%s at %d size %d, ctypes at %d size %d"
                                % ((fname,) + want + got))
        if problems:
            bad += 1
            print("bad %s: %s" % (cname, "; ".join(problems)))
        else:
            print("ok %s (%d bytes)" % (cname, ctypes.sizeof(cls)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
