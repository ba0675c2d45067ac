"""A linearizability checker for histories of znode operations (issue 7).

A history is a list of Op: each has a path, a kind, its arguments, the
client's invoke time, its completion time and its result.  An op whose
client never learnt the outcome (ConnectionLoss, a timeout, the test
ending first) has ``ret=None`` and ``result=None``: it may have taken
effect at any point after its invoke, or not at all.

The model is one znode per path: its state is ``None`` (absent) or
``(data, version)``.  Operations and their results (``result`` is a pair
``(status, value)``):

  create(data)             ("ok", None) | ("NodeExists", None)
  set(data, expected)      ("ok", new_version) | ("BadVersion", None)
                           | ("NoNode", None);   expected -1 = any version
  delete(expected)         ("ok", None) | ("BadVersion", None)
                           | ("NoNode", None)
  read()  (sync + get)     ("ok", (data, version)) | ("NoNode", None)

Linearizability is local (Herlihy & Wing): a history is linearizable iff
its restriction to each object is.  So the history is split by path and
each part searched on its own.

The search is Wing & Gong's, as improved by Lowe and used by Porcupine:
call and return events sorted by time in a doubly linked list; walking
from the head, a call whose op the model accepts in the current state is
"lifted" (linearized: both of its events unlinked) and the walk restarts
at the head; meeting a return event means that op should already have
been linearized, so the last lift is undone and the next candidate tried.
A cache of (set of linearized ops, model state) prunes every
configuration already explored: the same ops linearized in another order
that left the same state lead to the same futures.

An op with an unknown outcome has no return event: nothing forces it, so
a linearization may leave it out (it did not take effect, or it failed,
which for these ops changes nothing), or place it anywhere after its
invoke where it succeeds.  The search ends successfully once every
completed op is linearized.

Command line: ``python3 linearize.py HISTORY.jsonl`` checks a history
saved by ``save_history`` (one op per line) and exits 1 on a violation.
"""

import json
import sys
import time
from collections import namedtuple

# kind: "create" | "set" | "delete" | "read".  data: what create/set
# wrote; expected: set/delete's expected version (-1: any).  call, ret:
# seconds on one monotonic clock; ret None when the outcome is unknown.
Op = namedtuple("Op", "id client path kind data expected call ret result")


def op(id, client, path, kind, call, ret, result, data=None, expected=-1):
    """An Op with keyword defaults (data only for create/set, expected only
    for set/delete)."""
    if result is not None:
        result = (result[0], _freeze(result[1]))
    return Op(id, client, path, kind, data, expected, call, ret, result)


def _freeze(v):
    return tuple(v) if isinstance(v, list) else v


# ---------------------------------------------------------------------
# The znode model.

def apply(state, o):
    """Run o sequentially on state: (status, value, new_state), the result
    a correct server gives."""
    if o.kind == "create":
        if state is not None:
            return "NodeExists", None, state
        return "ok", None, (o.data, 0)
    if o.kind == "set":
        if state is None:
            return "NoNode", None, state
        if o.expected != -1 and o.expected != state[1]:
            return "BadVersion", None, state
        return "ok", state[1] + 1, (o.data, state[1] + 1)
    if o.kind == "delete":
        if state is None:
            return "NoNode", None, state
        if o.expected != -1 and o.expected != state[1]:
            return "BadVersion", None, state
        return "ok", None, None
    if o.kind == "read":
        if state is None:
            return "NoNode", None, state
        return "ok", state, state
    raise ValueError("unknown op kind %r" % (o.kind,))


def step(state, o):
    """The state after o when o may be linearized in state, else None
    (wrapped in a 1-tuple so that the absent state None is expressible).
    An op with an unknown outcome is only ever linearized where it takes
    effect: where it would fail it changes nothing, which is the same as
    leaving it out."""
    status, value, after = apply(state, o)
    if o.result is None:
        if status == "ok" and o.kind != "read":
            return (after,)
        return None
    if (status, value) == o.result:
        return (after,)
    return None


def why_not(state, o):
    """One line: what a correct server would have answered instead."""
    status, value, _ = apply(state, o)
    if o.result is None:
        return "unknown outcome; would be %s here" % (status,)
    return "returned %s, but in state %s a correct server says %s" % (
        fmt_result(o.result), fmt_state(state), fmt_result((status, value)))


# ---------------------------------------------------------------------
# Formatting.

def fmt_state(state):
    return "absent" if state is None else "(%r, v%d)" % state


def fmt_result(r):
    if r is None:
        return "?"
    status, value = r
    if status != "ok" or value is None:
        return status
    if isinstance(value, tuple):
        return "ok %s" % fmt_state(value)
    return "ok v%s" % (value,)


def fmt_op(o, t0=0.0):
    if o.kind == "create":
        what = "create(%r)" % (o.data,)
    elif o.kind == "set":
        what = "set(%r, v=%d)" % (o.data, o.expected)
    elif o.kind == "delete":
        what = "delete(v=%d)" % (o.expected,)
    else:
        what = "read()"
    end = "never" if o.ret is None else "%.4f" % (o.ret - t0)
    return "#%d c%s %s -> %s  [%.4f, %s]" % (o.id, o.client, what,
                                            fmt_result(o.result),
                                            o.call - t0, end)


# ---------------------------------------------------------------------
# The search, for the ops of one path.

class _Entry:
    __slots__ = ("op", "idx", "bit", "pbit", "is_call", "match", "prev",
                 "next")

    def __init__(self, o, idx, pbit, is_call):
        self.op = o
        self.idx = idx
        self.bit = 1 << idx if o is not None else 0
        self.pbit = pbit
        self.is_call = is_call
        self.match = None  # a call's return entry (None: unknown outcome)
        self.prev = None
        self.next = None


def _event_list(ops):
    """Head of the doubly linked list of call and return events in time
    order; at equal times calls come first (such ops count as concurrent,
    the lenient reading).  ops must be sorted by call time: an entry's idx
    is its op's index there."""
    events = []
    n_unknown = 0
    for i, o in enumerate(ops):
        if o.ret is None:
            c = _Entry(o, i, 1 << n_unknown, True)
            n_unknown += 1
        else:
            if o.ret < o.call:
                raise ValueError("op #%d returns before its call" % o.id)
            c = _Entry(o, i, 0, True)
            c.match = _Entry(o, i, 0, False)
            events.append((o.ret, 1, i, c.match))
        events.append((o.call, 0, i, c))
    events.sort(key=lambda e: e[:3])
    head = _Entry(None, -1, 0, False)  # sentinel
    prev = head
    for *_, e in events:
        prev.next = e
        e.prev = prev
        prev = e
    return head


def _unlink(e):
    e.prev.next = e.next
    if e.next is not None:
        e.next.prev = e.prev


def _relink(e):
    # Undo in reverse order of _unlink: e's neighbours still point past it.
    e.prev.next = e
    if e.next is not None:
        e.next.prev = e


def _lift(c):
    _unlink(c)
    if c.match is not None:
        _unlink(c.match)


def _unlift(c):
    if c.match is not None:
        _relink(c.match)
    _relink(c)


class PathResult:
    """Outcome of checking one path.  ok; on failure: best (the longest
    linearization found: list of (op, state after)), stuck (the completed
    op that no order could fit before its return), state (the model state
    at that point), candidates (the ops then still open, with why each
    could not go next)."""

    def __init__(self, path, ok, n_ops, seconds, explored):
        self.path = path
        self.ok = ok
        self.n_ops = n_ops
        self.seconds = seconds
        self.explored = explored
        self.best = []
        self.stuck = None
        self.state = None
        self.candidates = []

    def explain(self, t0=0.0, last=12):
        if self.ok:
            return "%s: linearizable (%d ops)" % (self.path, self.n_ops)
        out = ["%s: NOT linearizable (%d ops; longest linearizable prefix "
               "has %d ops)" % (self.path, self.n_ops, len(self.best))]
        shown = self.best[-last:]
        if len(self.best) > len(shown):
            out.append("  ... %d earlier ops" % (len(self.best) - len(shown)))
        for o, st in shown:
            out.append("  %s   => %s" % (fmt_op(o, t0), fmt_state(st)))
        out.append("  then, in state %s, this op cannot be linearized "
                   "before it returned:" % fmt_state(self.state))
        out.append("  ! %s: %s" % (fmt_op(self.stuck, t0),
                                     why_not(self.state, self.stuck)))
        others = [o for o in self.candidates if o is not self.stuck]
        if others:
            out.append("  and no other open op can go first:")
        for o in others:
            out.append("    %s: %s" % (fmt_op(o, t0), why_not(self.state, o)))
        return "\n".join(out)


def check_path(path, ops, initial=None, max_explored=None):
    """Search for a linearization of ops (all on one path) from the model
    state initial.  max_explored bounds the cache (None: no bound); past
    it a RuntimeError says the history is too hard to decide."""
    t_start = time.monotonic()
    ops = sorted(ops, key=lambda o: (o.call, o.id))
    head = _event_list(ops)
    todo = sum(1 for o in ops if o.ret is not None)  # completed, not lifted
    state = initial
    bits = 0  # linearized ops, by index in ops
    pbits = 0  # linearized ops of unknown outcome, by their own numbering
    n = len(ops)
    cache = set()
    stack = []  # (call entry lifted, state before it)
    best_len = -1
    best = None
    res = PathResult(path, True, len(ops), 0.0, 0)
    e = head.next
    while todo > 0:
        if e is not None and e.is_call:
            nxt = step(state, e.op)
            if nxt is not None:
                _lift(e)
                key = _cache_key(head, bits | e.bit, pbits | e.pbit, nxt[0],
                                 n)
                if key not in cache:
                    cache.add(key)
                    if max_explored is not None and len(cache) > max_explored:
                        raise RuntimeError("%s: more than %d configurations"
                                           % (path, max_explored))
                    stack.append((e, state))
                    bits |= e.bit
                    pbits |= e.pbit
                    state = nxt[0]
                    if e.match is not None:
                        todo -= 1
                    e = head.next
                    continue
                _unlift(e)
            e = e.next
            continue
        # A return event (or the end): its op should have been linearized.
        if len(stack) > best_len and e is not None:
            # Kept for the report: a copy of the stack (cheap; the
            # states along it are worked out only if the search fails).
            best_len = len(stack)
            best = (stack[:], state, e.op, _open_ops(head, e))
        if not stack:
            res.ok = False
            break
        c, state = stack.pop()
        _unlift(c)
        bits &= ~c.bit
        pbits &= ~c.pbit
        if c.match is not None:
            todo += 1
        e = c.next
    res.seconds = time.monotonic() - t_start
    res.explored = len(cache)
    if not res.ok:
        frames, res.state, res.stuck, res.candidates = best
        res.best = [(c.op, step(before, c.op)[0]) for c, before in frames]
    return res


def _cache_key(head, bits, pbits, state, n):
    """The cache key of a configuration: which ops are linearized, and
    the state.  Real time forces the linearized set to be "every completed
    op up to some index, some ops of unknown outcome, and a few more past
    that index", so it is written that way: low, the index of the first
    completed op not linearized; the bits from low on; the unknown-outcome
    ops in their own small bitset.  Keys stay small on long histories,
    where the plain bitset of every op would cost n/8 bytes each."""
    f = head.next
    while f is not None and f.is_call and f.match is None:
        f = f.next  # an op of unknown outcome, not linearized
    low = n if f is None else f.idx
    return (low, bits >> low, pbits, state)


def _open_ops(head, ret_entry):
    """The ops whose calls come before ret_entry in the list: the ones
    that could have gone next."""
    out = []
    e = head.next
    while e is not None and e is not ret_entry:
        if e.is_call:
            out.append(e.op)
        e = e.next
    return out


# ---------------------------------------------------------------------
# Whole histories.

class Report:
    """Per-path results of check(); ok when every path is linearizable."""

    def __init__(self, results, seconds):
        self.results = results
        self.seconds = seconds
        self.ok = all(r.ok for r in results)
        self.violations = [r for r in results if not r.ok]
        self.n_ops = sum(r.n_ops for r in results)

    def explain(self, t0=0.0):
        lines = ["%d ops on %d paths checked in %.2f s: %s" % (
            self.n_ops, len(self.results), self.seconds,
            "linearizable" if self.ok else
            "%d path(s) NOT linearizable" % len(self.violations))]
        for r in self.violations:
            lines.append(r.explain(t0))
        return "\n".join(lines)


def check(history, initial=None, max_explored=None):
    """Check a whole history (any iterable of Op); initial maps a path to
    its state before the history (default: absent)."""
    t = time.monotonic()
    by_path = {}
    for o in history:
        by_path.setdefault(o.path, []).append(o)
    results = [check_path(p, by_path[p], (initial or {}).get(p),
                          max_explored)
               for p in sorted(by_path)]
    return Report(results, time.monotonic() - t)


def save_history(history, path):
    with open(path, "w") as f:
        for o in history:
            f.write(json.dumps(o._asdict()) + "\n")


def load_history(path):
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                r = d["result"]
                d["result"] = None if r is None else (r[0], _freeze(r[1]))
                out.append(Op(**d))
    return out


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: linearize.py HISTORY.jsonl\n")
        return 2
    h = load_history(argv[1])
    rep = check(h)
    t0 = min((o.call for o in h), default=0.0)
    print(rep.explain(t0))
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
