"""docs/opcodes.md names, for every opcode, the tests that check it and on
which target they pass.  A renamed test or a new roost_only marker would
leave the table claiming coverage that no longer exists; this reads the
table and the test files (with ast, nothing is imported or run) and fails
on any such drift."""

import ast
import os
import re

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "opcodes.md")


def _marks(decorators):
    """Names of the pytest.mark.X decorators in a decorator list."""
    out = set()
    for d in decorators:
        node = d.func if isinstance(d, ast.Call) else d
        if (isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "mark"):
            out.add(node.attr)
    return out


def _tests_in(path):
    """{test function name: set of marker names} for one test file,
    module-level pytestmark included."""
    tree = ast.parse(open(path).read(), path)
    module_marks = set()
    tests = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark"
                for t in node.targets):
            vals = node.value.elts if isinstance(
                node.value, (ast.List, ast.Tuple)) else [node.value]
            module_marks |= _marks(vals)
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            tests[node.name] = _marks(node.decorator_list)
    return {n: m | module_marks for n, m in tests.items()}


def _table():
    text = open(DOC).read()
    abbr = dict(re.findall(r"`(\w+)` = `(test_\w+\.py)`", text))
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| op "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and re.match(r"-?\d+$", cells[0]):
            rows.append(cells)
    return abbr, rows


@pytest.mark.roost_only("checks Roost's own documentation, not a server")
def test_opcode_table_names_real_tests_on_the_stated_targets():
    abbr, rows = _table()
    assert len(rows) >= 30, "the opcode table was not found in %s" % DOC
    files = {}
    problems = []
    for op, name, _beh, tests, target, _lib in (r[:6] for r in rows):
        refs = re.findall(r"\b([A-Z]+)::(test_\w+)", tests + " " + target)
        if not refs:
            problems.append("op %s (%s): names no test" % (op, name))
        for a, t in refs:
            if a not in abbr:
                problems.append("op %s: abbreviation %s is not defined"
                                % (op, a))
                continue
            if abbr[a] not in files:
                files[abbr[a]] = _tests_in(os.path.join(HERE, abbr[a]))
            marks = files[abbr[a]].get(t)
            if marks is None:
                problems.append("op %s: %s::%s does not exist in %s"
                                % (op, a, t, abbr[a]))
                continue
            one_target = marks & {"roost_only", "zookeeper_only"}
            # A row that says plainly "both" promises the test runs on
            # both targets; exceptions must be named in the cell.
            if one_target and target == "both":
                problems.append("op %s: %s::%s is %s but the row says both"
                                % (op, a, t, "/".join(sorted(one_target))))
            if one_target and target != "both" and t not in target \
                    and "per target" not in target.lower():
                problems.append("op %s: %s::%s is %s and the row does not "
                                "say why" % (op, a, t,
                                             "/".join(sorted(one_target))))
    assert not problems, "\n".join(problems)
