#!/usr/bin/env python3
"""Shrink a core to what py-async-graph reads, and extract the file bytes it
needs from the target's files.

    minimize.py CORE TRACE OUT_CORE SKELETON_DIR [ROOT]

TRACE is the output of `py-async-graph --trace-reads=TRACE --core CORE`
(all formats that are to be tested, concatenated), or the same reads
merged (corefiles/NAME/reads.txt). OUT_CORE keeps the ELF header, every
PT_NOTE segment (threads, NT_FILE) and, of the PT_LOAD segments, only the
pages that were read, and of those only the bytes that were read: the
rest of a page is zeros (the reader fetches whole pages, so the pages
must be there). SKELETON_DIR receives, for every file read through the
core's NT_FILE mappings or for its section headers, a sparse file of the
original size holding only the bytes that were read (from ROOT/path, as
the reader opened it). A later read of anything else would see zeros:
tests/integration/corefiles.test fails when a read falls outside TRACE.
"""
import bisect
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "harness"))
import pyag_harness as H  # noqa: E402

PAGE = 4096
PT_LOAD, PT_NOTE = 1, 4


def kept_bytes(data, off, vaddr, start, end, mem, starts):
    """The bytes of [start, end) (in a segment at file offset off, address
    vaddr) that the reads cover, zeros elsewhere."""
    chunk = bytearray(end - start)
    i = max(bisect.bisect_right(starts, start) - 1, 0)
    while i < len(mem) and mem[i][0] < end:
        a, b = max(mem[i][0], start), min(mem[i][1], end)
        if a < b:
            chunk[a - start:b - start] = data[off + a - vaddr:off + b - vaddr]
        i += 1
    return bytes(chunk)


def main():
    core, trace, out_core, skel = sys.argv[1:5]
    root = sys.argv[5] if len(sys.argv) > 5 else ""
    reads = H.read_trace(trace)
    starts = [a for a, _ in reads.mem]
    pages = {p for a, b in reads.mem for p in range(a // PAGE, (b - 1) // PAGE + 1)}

    data = open(core, "rb").read()
    (ident, etype, machine, version, entry, phoff, shoff, flags, ehsize,
     phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack_from(
        "<16sHHIQQQIHHHHHH", data, 0)
    phdrs = [struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
             for i in range(phnum)]
    segments = []   # (type, flags, vaddr, filesz, memsz, align, bytes)
    for (ptype, pflags, off, vaddr, paddr, filesz, memsz, align) in phdrs:
        if ptype == PT_NOTE:
            segments.append((ptype, pflags, 0, filesz, 0, align,
                             data[off:off + filesz]))
        elif ptype == PT_LOAD:
            first = vaddr // PAGE
            last = (vaddr + filesz + PAGE - 1) // PAGE
            run = None
            for p in range(first, last + 1):
                inside = p < last and p in pages
                if inside and run is None:
                    run = p
                if not inside and run is not None:
                    start = run * PAGE
                    end = min(p * PAGE, vaddr + filesz)
                    chunk = kept_bytes(data, off, vaddr, start, end, reads.mem, starts)
                    segments.append((PT_LOAD, pflags, start, len(chunk),
                                     len(chunk), PAGE, chunk))
                    run = None
    out = bytearray(64 + 56 * len(segments))
    body = bytearray()
    headers = []
    cursor = len(out)
    for (ptype, pflags, vaddr, filesz, memsz, align, chunk) in segments:
        if ptype == PT_LOAD and cursor % PAGE:
            pad = PAGE - cursor % PAGE
            body += b"\0" * pad
            cursor += pad
        headers.append(struct.pack("<IIQQQQQQ", ptype, pflags, cursor, vaddr, 0,
                                   filesz, memsz, align))
        body += chunk
        cursor += len(chunk)
    struct.pack_into("<16sHHIQQQIHHHHHH", out, 0, ident, etype, machine, version,
                     entry, 64, 0, flags, 64, 56, len(segments), 0, 0, 0)
    for i, h in enumerate(headers):
        out[64 + 56 * i:64 + 56 * (i + 1)] = h
    with open(out_core, "wb") as f:
        f.write(out + body)

    for path, ranges in reads.files.items():
        # the file the reader opened: under the sysroot first, as it does
        src = root + path if root and os.path.exists(root + path) else path
        dst = os.path.join(skel, path.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        size = os.path.getsize(src)
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            fout.truncate(size)
            for a, b in ranges:
                fin.seek(a)
                fout.seek(a)
                fout.write(fin.read(b - a))
    print("%s: %d bytes read, in %d pages of %d segments; %d files" % (
        out_core, sum(b - a for a, b in reads.mem), len(pages), len(segments),
        len(reads.files)))


if __name__ == "__main__":
    main()
