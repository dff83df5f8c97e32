#!/usr/bin/env bash
# Prints the module-level import graph of src/ (each top-level module → the top-level modules it
# names through `crate::`, or `wabasim::` in main.rs) and fails when an arrow points up the
# layering or the graph has a cycle. Comments (and so doc links) are not imports and are skipped.
#
#   bash scripts/deps.sh
#
# The layering, top to bottom (a module may import modules below it, and doors may import other
# doors as long as no cycle forms):
#
#   main → cmd → doors (server, load, simulate, render, webhooks) → scenario → traffic
#        → engine → pricing → clock, schema
#
# Test-only files (`tests.rs`, `*_tests.rs`) are left out: a core test may build its world
# from scenario text, which is not an arrow of the library.
#
# Exit 0 when the graph is clean (known leftovers aside), 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - "$@" <<'PY'
import os, re, sys
from collections import defaultdict

# Layer of each top-level module: lower numbers sit higher. Same number: one layer of peers.
LAYERS = [
    ["main"],
    ["cmd"],
    ["server", "load", "simulate", "render", "webhooks"],
    ["scenario"],
    ["traffic"],
    ["engine"],
    ["pricing"],
    ["clock", "schema"],
]
LAYER = {m: i for i, ms in enumerate(LAYERS) for m in ms}
DOORS = set(LAYERS[2])

# Arrows that point up today and are being removed on other branches. Keep this list short and
# delete an entry as soon as its fix lands.
KNOWN = {}

def module_of(path):
    rel = os.path.relpath(path, "src")
    head = rel.split(os.sep)[0]
    return head[:-3] if head.endswith(".rs") else head

def code_of(line):
    # The code of a line: `//` comments (so `///` and `//!` doc links) and the insides of string
    # and char literals dropped, so neither a doc link nor a message text counts as an import.
    out, i, n = [], 0, len(line)
    while i < n:
        c = line[i]
        if line.startswith("//", i):
            break
        if c == '"':
            i += 1
            while i < n and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            out.append('""'); i += 1; continue
        if c == "'":
            if line.startswith("\\", i + 1):  # '\n', '\'', '\u{..}'
                j = line.find("'", i + 3)
                i = j + 1 if j > 0 else n; continue
            if i + 2 < n and line[i + 2] == "'":  # 'x'
                i += 3; continue
        out.append(c); i += 1
    return "".join(out)

# `crate::x` (also `$crate::x` in macros); `wabasim::x` from the binary's main.rs.
CRATE = re.compile(r"(?<![A-Za-z0-9_])\$?crate::([a-z_][a-z0-9_]*)")
BIN = re.compile(r"(?<![A-Za-z0-9_:])wabasim::([a-z_][a-z0-9_]*)")

edges = defaultdict(lambda: defaultdict(list))  # from → to → [file:line]
modules = set()
problems = []
for root, _, files in os.walk("src"):
    for f in sorted(files):
        if not f.endswith(".rs") or f == "tests.rs" or f.endswith("_tests.rs"):
            continue
        path = os.path.join(root, f)
        src = module_of(path)
        if src == "lib":
            continue  # the crate root only declares the modules
        modules.add(src)
        pat = BIN if src == "main" else CRATE
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                code = code_of(line)
                if re.search(r"(?<![A-Za-z0-9_])crate::\{", code):
                    problems.append(f"{path}:{n}: `use crate::{{...}}`: write one path per module so this script sees it")
                for m in pat.finditer(code):
                    dst = m.group(1)
                    if dst != src:
                        edges[src][dst].append(f"{path}:{n}")

unknown = sorted(m for m in modules | {d for s in edges for d in edges[s]} if m not in LAYER)
for m in unknown:
    problems.append(f"module {m} has no layer: add it to LAYERS in scripts/deps.sh")

print("module graph (module -> modules it imports), top to bottom:")
order = sorted(modules, key=lambda m: (LAYER.get(m, 99), m))
known_used = []
for src in order:
    dsts = sorted(edges[src], key=lambda d: (LAYER.get(d, 99), d))
    print(f"  {src:9} -> {', '.join(dsts) if dsts else '(nothing)'}")
    for dst in dsts:
        if src not in LAYER or dst not in LAYER:
            continue
        up = LAYER[dst] < LAYER[src]
        sideways = LAYER[dst] == LAYER[src] and src not in DOORS
        if not (up or sideways):
            continue
        if (src, dst) in KNOWN:
            known_used.append((src, dst))
            continue
        where = ", ".join(edges[src][dst][:3])
        problems.append(f"arrow up: {src} -> {dst} ({where})")

# Cycles, over every arrow but the allow-listed ones (a cycle that needs one of those is the
# same known problem and goes away with it).
state, stack = {}, []
def visit(m):
    state[m] = 1; stack.append(m)
    for d in sorted(edges[m]):
        if (m, d) in KNOWN:
            continue
        if state.get(d) == 1:
            problems.append("cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
        elif d not in state:
            visit(d)
    stack.pop(); state[m] = 2
for m in order:
    if m not in state:
        visit(m)

if known_used:
    print("known, being fixed (allow-list in scripts/deps.sh):")
    for a, b in known_used:
        print(f"  {a} -> {b}: {KNOWN[(a, b)]}")
stale = sorted(set(KNOWN) - set(known_used))
for a, b in stale:
    print(f"note: allow-listed {a} -> {b} is gone; remove it from KNOWN")
if problems:
    print("problems:")
    for p in problems:
        print("  " + p)
    sys.exit(1)
print("ok: no arrow points up, no cycle")
PY
