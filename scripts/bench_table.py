#!/usr/bin/env python3
"""Prints the README's benchmark table from criterion's results in target/criterion.

Usage: python3 scripts/bench_table.py [group ...]
Ratios are taskweave's median time over each peer's median from the same run.
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
peers = ["taskweave", "tokio", "async-executor"]


def median_ns(group, fn):
    path = root / group / fn / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt(ns):
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


groups = sys.argv[1:] or sorted(
    p.name for p in root.iterdir() if p.is_dir() and (p / "taskweave").exists()
)
print("| workload | taskweave | tokio | async-executor | vs tokio | vs async-executor |")
print("|---|---|---|---|---|---|")
for g in groups:
    t = [median_ns(g, p) for p in peers]
    r = [f"{t[0] / x:.2f}x" if t[0] and x else "-" for x in t[1:]]
    print(f"| {g} | {fmt(t[0])} | {fmt(t[1])} | {fmt(t[2])} | {r[0]} | {r[1]} |")
