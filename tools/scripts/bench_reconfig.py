#!/usr/bin/python3
"""`make bench-reconfig`: how long writes stall while the membership
changes, Roost against Apache ZooKeeper 3.8, in one run.

Runs each case of tests/integration/test_reconfig_faults.py (grow 3 -> 5,
shrink 5 -> 3, replace the leader, replace a dead follower on new ports,
a follower moved to new ports under its id,
a change during a kill -9 of the leader (a follower leaving, two joiners
joining), and a baseline: the same load
without a change) BENCH_RUNS times (default 5;
BENCH_QUICK=1: 2) on each target, with all of that file's checks (a run
whose checks fail is reported and makes the exit status 1).  The figure of
a run is the write stall: the longest time between two acknowledged
creates of a writer looping one create at a time, from the request to
1.5 s after its answer (for grow and the replacements this includes the
NewConfigNoQuorum retries while the new server catches up; for kill9, the
election).  The table (median and max over the runs, and the median time
from the request to its answer) goes to stdout and into docs/ensemble.md
between the bench-reconfig markers.

Expects ROOST_SERVER (the Makefile passes build/roost-server, a release
build).  BENCH_TARGETS=roost or zookeeper for one side only;
BENCH_KINDS=baseline,samesid for some kinds only (the doc's table is then
not rewritten)."""

import os
import re
import statistics
import sys
import tempfile
import time
import traceback

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import harness  # noqa: E402
import test_reconfig_faults as rf  # noqa: E402

KINDS = dict(baseline=rf.case_baseline, **rf.CASES)
DOC = os.path.join(TOP, "docs", "ensemble.md")
BEGIN = "<!-- bench-reconfig begin -->"
END = "<!-- bench-reconfig end -->"
LABELS = {"baseline": "none (the same load, baseline)", "grow": "grow 3 -> 5", "shrink": "shrink 5 -> 3",
          "leader": "replace the leader", "replace":
          "replace a dead follower (new id, new ports)",
          "samesid": "a follower moves to new ports (same id, its data)",
          "kill9": "a follower leaves during kill -9 of the leader",
          "kill9join": "two joiners join during kill -9 of the leader"}


def one_run(target, kind, seed):
    """The case once on fresh servers; its figures, or the error text."""
    base = tempfile.mkdtemp(prefix="roost-bench-reconfig-")
    made = []

    def factory(n=3, route=None, observers=(), client_in_lines=False,
                start=True, **cfg):
        ens = harness.Ensemble(base, n, cfg,
                               roost_bin=os.environ.get("ROOST_SERVER"),
                               route=route, observers=observers,
                               target=target,
                               client_in_lines=client_in_lines)
        made.append(ens)
        return ens.start() if start else ens
    try:
        return KINDS[kind](factory, target, base, seed)
    except Exception:  # noqa: BLE001 -- reported, and the exit status
        return traceback.format_exc(limit=3)
    finally:
        for ens in made:
            ens.stop()


def main():
    runs = int(os.environ.get("BENCH_RUNS") or
               (2 if os.environ.get("BENCH_QUICK") else 5))
    targets = (os.environ.get("BENCH_TARGETS") or "roost,zookeeper").split(",")
    only = os.environ.get("BENCH_KINDS")
    if only:
        for kind in list(KINDS):
            if kind not in only.split(","):
                del KINDS[kind]
    seed = int(time.time())
    figures = {}  # (target, kind) -> [dict]
    failures = []
    for r in range(runs):
        for kind in KINDS:
            for target in targets:  # alternating: the same machine state
                got = one_run(target, kind, seed + r)
                if isinstance(got, str):
                    failures.append((target, kind, got))
                    print("%-9s %-7s run %d FAILED" % (target, kind, r))
                    continue
                figures.setdefault((target, kind), []).append(got)
                print("%-9s %-7s run %d: stall %.0f ms, change %.0f ms"
                      % (target, kind, r, got["stall_ms"], got["change_ms"]),
                      flush=True)
    table = render(figures, targets, runs)
    print()
    print(table)
    if set(targets) == {"roost", "zookeeper"} and not only:
        write_doc(table, runs, failures)
    for target, kind, err in failures:
        print("\n%s %s failed:\n%s" % (target, kind, err), file=sys.stderr)
    return 1 if failures else 0


def cell(vals, key, f):
    xs = [v[key] for v in vals]
    return "%.0f" % f(xs) if xs else "-"


def render(figures, targets, runs):
    names = {"roost": "Roost", "zookeeper": "ZooKeeper 3.8"}
    head = "| change | " + " | ".join(
        "%s stall median / max (ms) | %s change (ms)" % (names[t], names[t])
        for t in targets) + " |"
    rows = [head, "|" + "---|" * (1 + 2 * len(targets))]
    for kind in KINDS:
        cols = []
        for t in targets:
            vals = figures.get((t, kind), [])
            cols.append("%s / %s (%d runs)" % (
                cell(vals, "stall_ms", statistics.median),
                cell(vals, "stall_ms", max), len(vals)))
            cols.append(cell(vals, "change_ms", statistics.median))
        rows.append("| %s | %s |" % (LABELS[kind], " | ".join(cols)))
    return "\n".join(rows)


def write_doc(table, runs, failures):
    with open(DOC) as f:
        text = f.read()
    failed = "; failed runs (not in the figures): %s" % ", ".join(
        "%s %s" % (t, k) for t, k, _ in failures) if failures else ""
    block = "%s\n%s\n\n(`make bench-reconfig`, %d runs per cell, %s; " \
            "shared, noisy 2-core machine%s.)\n%s" % (
                BEGIN, table, runs, time.strftime("%Y-%m-%d", time.gmtime()),
                failed, END)
    pat = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pat.search(text):
        print("docs/ensemble.md has no bench-reconfig markers: not written",
              file=sys.stderr)
        return
    with open(DOC, "w") as f:
        f.write(pat.sub(lambda m: block, text))


if __name__ == "__main__":
    sys.exit(main())
