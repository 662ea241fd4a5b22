#!/usr/bin/env python3
"""Compares the tensors of two GGUF files: same names, types, shapes and bytes.
usage: gguf_tensors.py A.gguf B.gguf  -> one line per tensor, exit 1 on any difference.
A reader of just enough of GGUF v3 (header, metadata skipped by type, tensor infos)."""
import struct
import sys

SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
BLOCK = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 14: (256, 210), 30: (1, 2)}


def read_tensors(path):
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    def string():
        nonlocal pos
        (n,) = take("Q")
        s = data[pos:pos + n].decode("utf-8", "replace")
        pos += n
        return s

    def skip_value(t):
        nonlocal pos
        if t == 8:
            string()
        elif t == 9:
            et, count = take("IQ")
            for _ in range(count):
                skip_value(et)
        else:
            pos += SCALAR[t]

    magic, version, n_tensors, n_kv = take("4sIQQ")
    alignment = 32
    for _ in range(n_kv):
        key = string()
        (t,) = take("I")
        if key == "general.alignment":
            (alignment,) = take("I")
        else:
            skip_value(t)
    infos = []
    for _ in range(n_tensors):
        name = string()
        (nd,) = take("I")
        dims = take("Q" * nd)
        t, off = take("IQ")
        infos.append((name, t, dims, off))
    base = (pos + alignment - 1) // alignment * alignment
    out = {}
    for name, t, dims, off in infos:
        n = 1
        for d in dims:
            n *= d
        be, bb = BLOCK[t]
        out[name] = (t, dims, data[base + off: base + off + n // be * bb])
    return out


a, b = read_tensors(sys.argv[1]), read_tensors(sys.argv[2])
bad = 0
for name in sorted(set(a) | set(b)):
    if name not in a or name not in b:
        print(f"{name}: only in {'A' if name in a else 'B'}")
        bad += 1
        continue
    (ta, da, xa), (tb, db, xb) = a[name], b[name]
    same = ta == tb and da == db and xa == xb
    diff = sum(1 for i in range(0, min(len(xa), len(xb))) if xa[i] != xb[i]) if not same else 0
    print(f"{name}: type {ta}/{tb} dims {list(da)}/{list(db)} {'same bytes' if same else f'{diff} bytes differ'}")
    bad += not same
sys.exit(1 if bad else 0)
