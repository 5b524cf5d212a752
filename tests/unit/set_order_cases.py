#!/usr/bin/env python3
"""Print the expected set orders of test_set_order (tests/unit/check_core.c).

Run it with the interpreter whose sets the library emulates (3.11 to 3.14
print the same lines) and paste its output into the table of cases.  For
each case it makes n distinct addresses (the same splitmix64 sequence as
set_keys() in check_core.c), adds objects hashing as those addresses to a
set in turn, and prints the FNV-1a hash of the order in which
frozenset(that set) iterates them (indices in the order added).
"""
M64 = (1 << 64) - 1


def splitmix(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def pointer_hash(a):
    """Python/pyhash.c's _Py_HashPointer, as a Python int hash."""
    h = ((a >> 4) | (a << 60)) & M64
    h = M64 - 1 if h == M64 else h
    return h - (1 << 64) if h >= 1 << 63 else h


class Obj:
    """An object that hashes as if it lived at address a."""
    __slots__ = ("a",)

    def __init__(self, a):
        self.a = a

    def __hash__(self):
        return pointer_hash(self.a)

    def __eq__(self, other):
        return self is other


def addresses(seed, n, dense):
    state, out, seen = seed, [], set()
    while len(out) < n:
        state, r = splitmix(state)
        a = (0x7f3a00000000 + (r & 0xffff) * 0x40) if dense else (r & ~0xf)
        if a and a not in seen:
            seen.add(a)
            out.append(a)
    return out


def order(addrs):
    objs = [Obj(a) for a in addrs]
    s = set()
    for o in objs:
        s.add(o)
    index = {id(o): i for i, o in enumerate(objs)}
    return [index[id(o)] for o in frozenset(s)]


def fnv(indices):
    h = 0xcbf29ce484222325
    for i in indices:
        h = ((h ^ i) * 0x100000001b3) & M64
    return h


def main():
    for dense in (1, 0):
        sizes = (2, 3, 4, 5, 6, 7, 8, 9, 12, 17, 19, 20, 40, 300, 5000)
        if not dense:
            sizes += (60000,)
        for n in sizes:
            print("\t\t{ %d, %d, 0x%016xull }," % (
                dense, n, fnv(order(addresses(n * 7 + dense, n, dense)))))


if __name__ == "__main__":
    main()
