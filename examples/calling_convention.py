"""Calling convention: what a task gets depends on its signature.

A task that takes a positional parameter gets its shared dict as the first
argument; the ``kwargs`` from its metadata are passed as keyword arguments. So
a task can take no arguments, just the shared dict, just kwargs, or both, and
kwargs can be spelled out as named (keyword-only) parameters with defaults.

Usage: python examples/calling_convention.py [thread|process]
"""

import sys

from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool


def no_args():
    return "no_args: called without arguments"


def shared_only(shared):
    return f"shared_only: shared={shared}"


@sched.meta.func_meta(kwargs={"wtype": "Gaseous"})
def args_only(**kwargs):
    return f"args_only: kwargs={kwargs}"


@sched.meta.func_meta(kwargs={"wtype": "Oceanic"})
def both(shared, **kwargs):
    return f"both: shared={shared} kwargs={kwargs}"


# kwargs expanded into named parameters, with a default for `build`
@sched.meta.func_meta(kwargs={"wtype": "Icy"})
def args_only_named(*, wtype, build=123):
    return f"args_only_named: wtype={wtype} build={build}"


@sched.meta.func_meta(kwargs={"wtype": "Desert", "build": 7})
def both_named(shared, wtype, build=123):
    return f"both_named: shared={shared} wtype={wtype} build={build}"


s = sched.Sched([no_args, shared_only, args_only, both, args_only_named, both_named])
s.add_shared(planet="Earth")
for result in s.run(Pool(workers=2)):
    print(result)
