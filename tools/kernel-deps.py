#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Which file of the module calls into which, read off the built objects: fail if two files call
into each other both ways (a cycle that a split by responsibility should not have).

Usage: kernel-deps.py DIR   (DIR holds the module's .o files, as tools/build-module.sh leaves
them). A file "calls into" another when its object has an undefined symbol that the other's
object defines as a function (nm type T): a call, or a function pointer in an ops table. Data
(module parameters, the generated netlink family) does not count.
"""
import subprocess
import sys
from pathlib import Path


def symbols(obj):
    out = subprocess.run(["nm", str(obj)], check=True, capture_output=True, text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] == "T":
            defined.add(parts[2])
    return defined, undefined


def main():
    objs = sorted(o for o in Path(sys.argv[1]).glob("daedalus-*.o")
                  if o.name != "daedalus-v4l2.o" and not o.name.endswith(".mod.o"))
    if not objs:
        sys.exit("no objects in %s" % sys.argv[1])
    table = {o.stem: symbols(o) for o in objs}
    owner = {s: name for name, (defs, _) in table.items() for s in defs}
    deps = {name: sorted({owner[s] for s in undef if s in owner} - {name})
            for name, (_, undef) in table.items()}
    for name, to in deps.items():
        print("  %-20s -> %s" % (name, ", ".join(to) or "-"))
    both = sorted({tuple(sorted((a, b))) for a, to in deps.items() for b in to if a in deps[b]})
    for a, b in both:
        print("FAIL: %s and %s call into each other" % (a, b))
    sys.exit(1 if both else 0)


if __name__ == "__main__":
    main()
