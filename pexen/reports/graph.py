"""The task graph as text: DOT (Graphviz) and Mermaid, from the tasks' metadata."""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pexen.sched import meta

from ._files import write_atomically
from .naming import task_name

__all__ = ["graph_dot", "graph_mermaid", "write_graph"]


@dataclass(frozen=True, slots=True)
class _Graph:
    """Nodes (task names, in order), dependency edges and lock conflicts."""

    names: list[str]
    #: (provider index, requirer index, the names it provides the requirer)
    edges: list[tuple[int, int, list[Hashable]]]
    #: resource -> [(task index, "claims" | "uses")], for resources in conflict
    locks: dict[Hashable, list[tuple[int, str]]]


def _build(tasks: Iterable[Any]) -> _Graph:
    tasks = list(dict.fromkeys(tasks))
    names = [task_name(t) for t in tasks]
    providers: dict[Hashable, list[int]] = {}
    for i, task in enumerate(tasks):
        for name in meta.get_provides(task):
            providers.setdefault(name, []).append(i)
    edges: dict[tuple[int, int], list[Hashable]] = {}
    for i, task in enumerate(tasks):
        for name in sorted(meta.get_requires(task), key=repr):
            for p in providers.get(name, ()):
                edges.setdefault((p, i), []).append(name)
    holders: dict[Hashable, list[tuple[int, str]]] = {}
    for i, task in enumerate(tasks):
        for name in meta.get_claims(task):
            holders.setdefault(name, []).append((i, "claims"))
        for name in meta.get_uses(task):
            holders.setdefault(name, []).append((i, "uses"))
    # only a resource that someone claims and someone else names is in conflict
    locks = {
        name: sorted(who)
        for name, who in sorted(holders.items(), key=lambda item: repr(item[0]))
        if len(who) > 1 and any(mode == "claims" for _, mode in who)
    }
    return _Graph(names, [(p, r, n) for (p, r), n in edges.items()], locks)


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(names: Iterable[Hashable]) -> str:
    return ", ".join(str(n) for n in names)


def graph_dot(tasks: Iterable[Any]) -> str:
    """The tasks' graph in Graphviz DOT (``dot -Tsvg`` renders it).

    A box per task (named by :func:`~pexen.reports.task_name`); an arrow from
    each provider to each task requiring what it provides, labelled with the
    names; each resource in a lock conflict (claimed by one task, used or
    claimed by another) as a grey cylinder, joined to its tasks by dashed
    lines: bold for ``claims`` (exclusive), thin for ``uses`` (shared).
    """
    g = _build(tasks)
    out = [
        "digraph pexen {",
        "  rankdir=LR;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for i, name in enumerate(g.names):
        out.append(f"  t{i} [label={_dot_string(name)}];")
    for p, r, names in g.edges:
        out.append(f"  t{p} -> t{r} [label={_dot_string(_label(names))}];")
    for n, (resource, who) in enumerate(g.locks.items()):
        out.append(
            f"  r{n} [label={_dot_string('lock: ' + str(resource))}, shape=cylinder, "
            'style=filled, fillcolor="#eeeeee"];'
        )
        for i, mode in who:
            width = "2" if mode == "claims" else "1"
            out.append(
                f"  t{i} -> r{n} [dir=none, style=dashed, penwidth={width}, "
                f"label={_dot_string(mode)}];"
            )
    out.append("}")
    return "\n".join(out) + "\n"


#: inside "...": a double quote ends the label, and # starts an entity
_MERMAID_ESCAPES = str.maketrans({"#": "#35;", '"': "#quot;"})


def _mermaid_text(text: str) -> str:
    return text.translate(_MERMAID_ESCAPES)


def graph_mermaid(tasks: Iterable[Any]) -> str:
    """The tasks' graph as a Mermaid flowchart (GitHub renders it in Markdown).

    The same as :func:`graph_dot`: a node per task, ``-->|names|`` from
    provider to requirer, each resource in a lock conflict as a cylinder
    joined by ``-.-|claims|`` / ``-.-|uses|`` dotted links.
    """
    g = _build(tasks)
    out = ["flowchart LR"]
    for i, name in enumerate(g.names):
        out.append(f'    t{i}["{_mermaid_text(name)}"]')
    for p, r, names in g.edges:
        out.append(f'    t{p} -->|"{_mermaid_text(_label(names))}"| t{r}')
    for n, (resource, who) in enumerate(g.locks.items()):
        out.append(f'    r{n}[("{_mermaid_text("lock: " + str(resource))}")]')
        for i, mode in who:
            out.append(f"    t{i} -.-|{mode}| r{n}")
    if g.locks:
        out.append("    classDef lock fill:#eeeeee,stroke:#888888")
        out.append("    class " + ",".join(f"r{n}" for n in range(len(g.locks))) + " lock")
    return "\n".join(out) + "\n"


def write_graph(tasks: Iterable[Any], path: str | os.PathLike[str]) -> None:
    """Write the tasks' graph to ``path``, its format by suffix: ``.dot`` or
    ``.gv`` DOT, ``.mmd`` Mermaid, ``.md`` Mermaid in a fenced block (a
    Markdown page that renders it). Raises :class:`ValueError` for another
    suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in (".dot", ".gv"):
        text = graph_dot(tasks)
    elif suffix == ".mmd":
        text = graph_mermaid(tasks)
    elif suffix == ".md":
        text = "```mermaid\n" + graph_mermaid(tasks) + "```\n"
    else:
        raise ValueError(
            f"cannot tell the graph's format from {os.fspath(path)!r}: "
            "use .dot or .gv (DOT), .mmd or .md (Mermaid)"
        )
    write_atomically(path, text.encode())
