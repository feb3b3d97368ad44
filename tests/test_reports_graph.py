"""The task graph in DOT and Mermaid, parsed back; ``dot -Tsvg`` renders it."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from helpers import returning

from pexen.factory import set_callpath
from pexen.reports import graph_dot, graph_mermaid, task_name, write_graph


def _tasks():
    fetch = returning("fetch", provides=["src"])
    set_callpath(fetch, ["build", "fetch"])
    lib = returning("lib", requires=["src"], provides=["lib"], claims=["disk"])
    app = returning("app", requires=["src", "lib"], claims=["disk"])
    docs = returning("docs", requires=["src"], uses=["disk"])
    lint = returning("lint", uses=["src-tree"])  # a use nobody claims: no conflict
    alone = returning('say "hi"; #1')  # a name to escape
    return [fetch, lib, app, docs, lint, alone]


def parse_dot(
    text: str,
) -> tuple[dict[str, str], set[tuple[str, str, str]], set[tuple[str, str, str]]]:
    """Nodes (id -> label), dependency edges (from, to, label), lock links (task, lock, mode)."""

    def unquote(s: str) -> str:
        return s.replace('\\"', '"').replace("\\\\", "\\")

    nodes = {
        m[1]: unquote(m[2])
        for m in re.finditer(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"', text, re.M)
    }
    edges, links = set(), set()
    for m in re.finditer(r"^\s*(\w+) -> (\w+) \[(.*)\];$", text, re.M):
        label = unquote(re.search(r'label="((?:[^"\\]|\\.)*)"', m[3])[1])
        if "dir=none" in m[3]:
            links.add((nodes[m[1]], nodes[m[2]], label))
        else:
            edges.add((nodes[m[1]], nodes[m[2]], label))
    return nodes, edges, links


def parse_mermaid(
    text: str,
) -> tuple[dict[str, str], set[tuple[str, str, str]], set[tuple[str, str, str]]]:
    def unescape(s: str) -> str:
        return re.sub(r"#(quot|35);", lambda m: {"quot": '"', "35": "#"}[m[1]], s)

    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes = {}
    for line in lines:
        m = re.fullmatch(r'\s*(\w+)\["(.*)"\]', line)
        m = m or re.fullmatch(r'\s*(\w+)\[\("(.*)"\)\]', line)
        if m:
            nodes[m[1]] = unescape(m[2])
    edges, links = set(), set()
    for line in lines:
        if m := re.fullmatch(r'\s*(\w+) -->\|"(.*)"\| (\w+)', line):
            edges.add((nodes[m[1]], nodes[m[3]], unescape(m[2])))
        elif m := re.fullmatch(r"\s*(\w+) -\.-\|(\w+)\| (\w+)", line):
            links.add((nodes[m[1]], nodes[m[3]], m[2]))
    return nodes, edges, links


EXPECTED_EDGES = {
    ("build/fetch", "lib", "src"),
    ("build/fetch", "app", "src"),
    ("lib", "app", "lib"),
    ("build/fetch", "docs", "src"),
}
EXPECTED_LINKS = {
    ("lib", "lock: disk", "claims"),
    ("app", "lock: disk", "claims"),
    ("docs", "lock: disk", "uses"),
}


@pytest.mark.parametrize("parse, render", [(parse_dot, graph_dot), (parse_mermaid, graph_mermaid)])
def test_the_graph_parses_back(parse, render):
    tasks = _tasks()
    nodes, edges, links = parse(render(tasks))
    assert sorted(nodes.values()) == sorted([*map(task_name, tasks), "lock: disk"])
    assert edges == EXPECTED_EDGES
    assert links == EXPECTED_LINKS


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_dot_renders_it_as_svg(tmp_path):
    path = tmp_path / "tasks.dot"
    write_graph(_tasks(), path)
    svg = subprocess.run(
        ["dot", "-Tsvg", str(path)], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    root = ET.fromstring(svg)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    titles = {t.text for t in root.iterfind(".//svg:g[@class='node']/svg:title", ns)}
    assert titles == {f"t{i}" for i in range(6)} | {"r0"}
    texts = {t.text for t in root.iterfind(".//svg:text", ns)}
    assert {"build/fetch", "lock: disk", 'say "hi"; #1'} <= texts
    assert len(list(root.iterfind(".//svg:g[@class='edge']", ns))) == 7


@pytest.mark.parametrize("suffix", [".dot", ".gv", ".mmd", ".md"])
def test_write_graph_picks_the_format_by_suffix(tmp_path, suffix):
    path = tmp_path / f"tasks{suffix}"
    write_graph(_tasks(), path)
    text = path.read_text()
    if suffix in (".dot", ".gv"):
        assert text.startswith("digraph pexen {")
        assert parse_dot(text)[1] == EXPECTED_EDGES
    elif suffix == ".mmd":
        assert parse_mermaid(text)[1] == EXPECTED_EDGES
    else:
        assert text.startswith("```mermaid\n") and text.endswith("```\n")
        assert parse_mermaid(text[len("```mermaid\n") : -len("```\n")])[1] == EXPECTED_EDGES


def test_an_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.dot or \.gv"):
        write_graph(_tasks(), tmp_path / "tasks.png")
    assert list(tmp_path.iterdir()) == []


def test_a_graph_without_edges_or_locks():
    tasks = [returning("a"), returning("b")]
    assert parse_dot(graph_dot(tasks)) == ({"t0": "a", "t1": "b"}, set(), set())
    assert parse_mermaid(graph_mermaid(tasks)) == ({"t0": "a", "t1": "b"}, set(), set())
