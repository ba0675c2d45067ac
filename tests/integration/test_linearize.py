"""Unit tests of the linearizability checker (linearize.py): no server,
the same on either --target.  Hand-written histories with a known answer,
random histories from a simulated linearizable znode (the checker must
accept every one), mutations of them that are provably illegal (it must
reject every one), and small random histories, legal or not, on which the
checker must agree with a brute-force search over every order."""

import os
import random
import subprocess
import sys

import pytest

import linearize as lz


class H:
    """A history under construction: one method per op kind, times in
    arbitrary units, ret=None for an unknown outcome."""

    def __init__(self):
        self.ops = []

    def _add(self, client, kind, call, ret, result, path, **kw):
        if isinstance(result, str):
            result = (result, None)
        self.ops.append(lz.op(len(self.ops), client, path, kind, call, ret,
                              result, **kw))
        return self

    def create(self, c, data, call, ret, result="ok", path="/a"):
        return self._add(c, "create", call, ret, result, path, data=data)

    def set(self, c, data, expected, call, ret, result, path="/a"):
        if isinstance(result, int):
            result = ("ok", result)
        return self._add(c, "set", call, ret, result, path, data=data,
                         expected=expected)

    def delete(self, c, expected, call, ret, result="ok", path="/a"):
        return self._add(c, "delete", call, ret, result, path,
                         expected=expected)

    def read(self, c, call, ret, data=None, version=0, path="/a"):
        result = ("NoNode", None) if data is None else ("ok", (data,
                                                               version))
        return self._add(c, "read", call, ret, result, path)

    def check(self, **kw):
        return lz.check(self.ops, **kw)


def ok(h):
    rep = h.check()
    assert rep.ok, rep.explain()
    return rep


def bad(h):
    rep = h.check()
    assert not rep.ok, "accepted an illegal history:\n" + "\n".join(
        lz.fmt_op(o) for o in h.ops)
    text = rep.explain()
    assert "NOT linearizable" in text
    return rep


# ---------------------------------------------------------------------
# Hand-written histories.

def test_sequential_history_is_linearizable():
    h = (H().read(1, 0, 1)
         .create(1, "x", 2, 3)
         .read(2, 4, 5, "x", 0)
         .set(2, "y", 0, 6, 7, 1)
         .set(1, "z", -1, 8, 9, 2)
         .set(1, "w", 1, 10, 11, "BadVersion")
         .read(1, 12, 13, "z", 2)
         .delete(2, 2, 14, 15)
         .read(1, 16, 17)
         .create(1, "again", 18, 19)
         .read(2, 20, 21, "again", 0))
    rep = ok(h)
    assert rep.n_ops == 11


def test_stale_read_is_caught():
    h = (H().create(1, "x", 0, 1)
         .set(1, "y", 0, 2, 3, 1)
         .read(2, 4, 5, "x", 0))  # after the set completed
    rep = bad(h)
    r = rep.violations[0]
    assert r.path == "/a"
    assert r.stuck.id == 2
    assert len(r.best) == 2  # create and set fit; the read does not
    assert "'x'" in r.explain() and "'y'" in r.explain()


def test_lost_update_is_caught():
    # Two conditional sets on version 0 may not both succeed.
    h = (H().create(1, "x", 0, 1)
         .set(1, "a", 0, 2, 5, 1)
         .set(2, "b", 0, 3, 6, 1))
    bad(h)
    # ... nor may the second win the race yet leave the first's value.
    h = (H().create(1, "x", 0, 1)
         .set(1, "a", 0, 2, 5, 1)
         .set(2, "b", 0, 3, 6, "BadVersion")
         .read(3, 7, 8, "b", 1))
    bad(h)
    # The legal outcome of the race.
    h = (H().create(1, "x", 0, 1)
         .set(1, "a", 0, 2, 5, 1)
         .set(2, "b", 0, 3, 6, "BadVersion")
         .read(3, 7, 8, "a", 1))
    ok(h)


def test_two_successful_creates_are_caught():
    bad(H().create(1, "x", 0, 2).create(2, "y", 1, 3))
    # Unless a delete fits between them.
    ok(H().create(1, "x", 0, 2).create(2, "y", 1, 5).delete(3, -1, 2.5, 3))


def test_read_of_a_value_never_written_is_caught():
    bad(H().create(1, "x", 0, 1).read(2, 2, 3, "ghost", 0))
    # ... even while a write is open (it writes something else).
    bad(H().create(1, "x", 0, 1).set(1, "y", -1, 2, None, None)
        .read(2, 3, 4, "ghost", 1))


def test_version_going_backwards_is_caught():
    h = (H().create(1, "x", 0, 1)
         .set(1, "y", -1, 2, 3, 1)
         .set(1, "z", -1, 4, 5, 2)
         .read(2, 6, 7, "z", 2)
         .read(2, 8, 9, "y", 1))
    bad(h)
    # A read must report the version the value was written with.
    bad(H().create(1, "x", 0, 1).set(1, "y", -1, 2, 3, 1)
        .read(2, 4, 5, "y", 0))
    # A set reports the version it made: one more than the last.
    bad(H().create(1, "x", 0, 1).set(1, "y", -1, 2, 3, 1)
        .set(1, "z", -1, 4, 5, 1))


def test_concurrency_makes_an_apparent_reordering_legal():
    # The read starts after the set started and returns before it ends:
    # it may see either value, and a later read the new one.
    h = (H().create(1, "x", 0, 1)
         .set(1, "y", 0, 2, 10, 1)
         .read(2, 3, 4, "y", 1)   # the set took effect before this
         .read(3, 5, 6, "y", 1))
    ok(h)
    h = (H().create(1, "x", 0, 1)
         .set(1, "y", 0, 2, 10, 1)
         .read(2, 3, 4, "x", 0)   # the set not yet
         .read(3, 5, 6, "y", 1))  # now it has
    ok(h)
    # Both reads overlap the set, but once one read saw the new value a
    # read that starts after it ended may not see the old one.
    h = (H().create(1, "x", 0, 1)
         .set(1, "y", 0, 2, 10, 1)
         .read(2, 3, 4, "y", 1)
         .read(3, 5, 6, "x", 0))
    bad(h)
    # Two overlapping creates: either order, the loser sees NodeExists,
    # even though the loser's call came first and it returned first.
    h = (H().create(1, "first", 0, 3, "NodeExists")
         .create(2, "second", 1, 4)
         .read(3, 5, 6, "second", 0))
    ok(h)


def test_unknown_outcome_may_or_may_not_apply():
    base = lambda: H().create(1, "x", 0, 1).set(1, "y", 0, 2, None, None)
    ok(base().read(2, 3, 4, "x", 0).read(2, 5, 6, "x", 0))   # did not apply
    ok(base().read(2, 3, 4, "y", 1))                          # applied
    ok(base().read(2, 3, 4, "x", 0).read(2, 5, 6, "y", 1))   # applied late
    # Once seen, it cannot be undone.
    bad(base().read(2, 3, 4, "y", 1).read(2, 5, 6, "x", 0))
    # Its effect may not show before its invoke.
    bad(H().create(1, "x", 0, 1).read(2, 2, 3, "y", 1)
        .set(1, "y", 0, 4, None, None))
    # It applies at most once: a second version bump needs a second write.
    bad(base().read(2, 3, 4, "y", 1).read(2, 5, 6, "y", 2))
    # An unknown create may explain a node that appears...
    ok(H().read(1, 0, 1).create(2, "x", 2, None, None)
       .read(1, 3, 4, "x", 0))
    # ... and an unknown delete one that vanishes, but only if it could
    # succeed then (wrong expected version: it cannot).
    ok(H().create(1, "x", 0, 1).delete(2, 0, 2, None, None).read(1, 3, 4))
    bad(H().create(1, "x", 0, 1).delete(2, 5, 2, None, None).read(1, 3, 4))
    # Unknown reads constrain nothing.
    ok(H().create(1, "x", 0, 1)._add(2, "read", 2, None, None, "/a"))


def test_paths_are_checked_independently():
    h = (H().create(1, "x", 0, 1, path="/a")
         .create(1, "x", 0, 1, path="/b")
         .set(1, "y", 0, 2, 3, 1, path="/a")
         .read(2, 4, 5, "x", 0, path="/a")    # stale: illegal
         .read(2, 4, 5, "x", 0, path="/b"))   # legal on /b
    rep = bad(h)
    assert [r.path for r in rep.violations] == ["/a"]
    assert len(rep.results) == 2


def test_initial_state():
    h = H().read(1, 0, 1, "seed", 3)
    bad(h)
    assert lz.check(h.ops, initial={"/a": ("seed", 3)}).ok


def test_history_file_round_trip(tmp_path):
    h = (H().create(1, "x", 0, 1).set(1, "y", 0, 2, None, None)
         .read(2, 3, 4, "x", 0).read(2, 5, 6, "y", 1))
    f = tmp_path / "h.jsonl"
    lz.save_history(h.ops, str(f))
    assert lz.load_history(str(f)) == h.ops
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "linearize.py")
    r = subprocess.run([sys.executable, script, str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    h.read(2, 7, 8, "x", 0)
    lz.save_history(h.ops, str(f))
    r = subprocess.run([sys.executable, script, str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "NOT linearizable" in r.stdout, r.stdout


# ---------------------------------------------------------------------
# Random histories from a simulated linearizable znode.

def simulate(rng, n_ops, n_clients, paths=("/a",), p_unknown=0.1,
             max_len=3.0):
    """Each client runs ops back to back with random gaps and durations;
    each op takes effect at a random instant inside its interval (an op
    with an unknown outcome: inside, or never).  Applying the ops in the
    order of those instants to the model gives the results, so the
    history is linearizable by construction."""
    planned = []
    for c in range(n_clients):
        t = rng.random()
        for k in range(n_ops // n_clients):
            call = t + rng.random() * 0.5
            ret = call + rng.random() * max_len
            path = rng.choice(paths)
            kind = rng.choice(["create", "set", "set", "delete", "read",
                               "read", "read"])
            data = "c%d-%d" % (c, k)
            expected = rng.choice([-1, -1, 0, 1, 2, 3])
            unknown = kind != "read" and rng.random() < p_unknown
            at = rng.uniform(call, ret)
            if unknown and rng.random() < 0.5:
                at = None  # never took effect
            planned.append((c, path, kind, data, expected, call, ret,
                            unknown, at))
            t = ret
    states = {}
    results = {}
    order = sorted((p for p in planned if p[8] is not None),
                   key=lambda p: p[8])
    for p in order:
        c, path, kind, data, expected = p[:5]
        o = lz.op(0, c, path, kind, 0, 0, None, data=data,
                  expected=expected)
        status, value, after = lz.apply(states.get(path), o)
        states[path] = after
        results[id(p)] = (status, value)
    ops = []
    for p in planned:
        c, path, kind, data, expected, call, ret, unknown, at = p
        if unknown:
            ret, res = None, None
        else:
            res = results[id(p)]
        ops.append(lz.op(len(ops), c, path, kind, call, ret, res,
                         data=data, expected=expected))
    return ops


def test_random_legal_histories_are_accepted():
    rng = random.Random(7)
    checked = 0
    for i in range(60):
        ops = simulate(rng, n_ops=rng.choice([20, 60, 150]),
                       n_clients=rng.choice([2, 3, 5]),
                       paths=rng.choice([("/a",), ("/a", "/b", "/c")]),
                       max_len=rng.choice([0.3, 1.0, 3.0]))
        rep = lz.check(ops)
        assert rep.ok, rep.explain()
        checked += rep.n_ops
    assert checked > 3000


def _replace(ops, i, **kw):
    out = list(ops)
    out[i] = out[i]._replace(**kw)
    return out


def test_provably_illegal_mutations_are_rejected():
    """Every data value is unique, so a read of a value nobody wrote, a
    version no write could have made, or a value reported with another
    version than its write made, is illegal whatever the timing."""
    rng = random.Random(11)
    mutated = 0
    for i in range(40):
        ops = simulate(rng, n_ops=80, n_clients=rng.choice([2, 4]),
                       max_len=rng.choice([0.3, 2.0]))
        written = {o.data: o.result[1] for o in ops if o.result is not None
                   and o.result[0] == "ok" and o.kind == "set"}
        written.update({o.data: 0 for o in ops if o.result is not None
                        and o.result[0] == "ok" and o.kind == "create"})
        n_writes = sum(1 for o in ops if o.kind in ("set", "create"))
        for j, o in enumerate(ops):
            if o.result is None or o.result[0] != "ok":
                continue
            if o.kind == "read":
                data, version = o.result[1]
                cases = [("ok", ("never-written", version)),
                         ("ok", (data, version + n_writes + 1))]
                if data in written:  # its writer's version is known
                    cases.append(("ok", (data, written[data] + 1)))
                for res in cases:
                    rep = lz.check(_replace(ops, j, result=res))
                    assert not rep.ok, (i, j, res)
                    mutated += 1
            elif o.kind == "set":
                res = ("ok", o.result[1] + n_writes + 1)
                assert not lz.check(_replace(ops, j, result=res)).ok
                mutated += 1
    assert mutated > 500


# ---------------------------------------------------------------------
# Agreement with a brute-force search on small histories.

def brute_force(ops, initial=None):
    """Every order of the completed ops plus any subset of the unknown
    ones that respects real time, run on the model: True if one fits."""
    inf = float("inf")

    def end(o):
        return inf if o.ret is None else o.ret

    def search(left, state):
        if all(o.ret is None for o in left):
            return True
        for o in left:
            if any(end(p) < o.call for p in left if p is not o):
                continue  # something still open returned before o began
            status, value, after = lz.apply(state, o)
            if o.result is not None and (status, value) != o.result:
                continue
            rest = [p for p in left if p is not o]
            if search(rest, after):
                return True
        return False

    return search(list(ops), initial)


def random_small(rng):
    ops = simulate(rng, n_ops=rng.choice([4, 6]), n_clients=rng.choice([2, 3]),
                   p_unknown=0.25, max_len=rng.choice([0.5, 2.0]))
    # Perturb a result about half the time; the answer is then unknown
    # and brute force decides it.
    if rng.random() < 0.5:
        j = rng.randrange(len(ops))
        o = ops[j]
        choices = [("ok", None), ("NodeExists", None), ("NoNode", None),
                   ("BadVersion", None), ("ok", 0), ("ok", 1), ("ok", 2),
                   ("ok", ("c0-0", 0)), ("ok", ("c1-0", 1)),
                   ("ok", ("c0-1", 1)), None]
        res = rng.choice(choices)
        ops = _replace(ops, j, result=res,
                       ret=None if res is None else (o.ret or o.call + 1))
    return ops


def test_agrees_with_brute_force_on_small_histories():
    rng = random.Random(3)
    verdicts = {True: 0, False: 0}
    for i in range(1500):
        ops = random_small(rng)
        want = brute_force(ops)
        got = lz.check(ops).ok
        assert got == want, "checker says %s, brute force %s:\n%s" % (
            got, want, "\n".join(lz.fmt_op(o) for o in ops))
        verdicts[want] += 1
    # Both answers were exercised plenty.
    assert verdicts[True] > 300 and verdicts[False] > 150, verdicts


def test_return_before_call_is_an_error():
    with pytest.raises(ValueError):
        lz.check(H().create(1, "x", 5, 4).ops)


def test_exploration_bound():
    # Many unconditional sets with unknown outcomes (any subset, in any
    # order, may have applied) and a read that fits none: the search
    # tries a lot before it gives up; a bound makes that an error instead
    # of a long wait.
    h = H().create(0, "x", 0, 1)
    for c in range(12):
        h.set(c, "d%d" % c, -1, 2, None, None)
    h.read(99, 60, 61, "nobody", 5)
    with pytest.raises(RuntimeError):
        h.check(max_explored=1000)
    assert not h.check().ok

