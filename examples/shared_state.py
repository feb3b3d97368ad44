"""Shared state: a dict that flows from a task to the tasks that depend on it.

A task with a positional parameter gets its own shared dict, starting as a copy
of what ``add_shared`` preset. When it finishes, every task requiring something
it provides gets ``dict.update()`` with its dict; other tasks are never touched.

Expected (in any order):

    greet_ver_nodep  shared={'wtype': 'Terrestrial', 'msg': 'Hello Last Terrestrial World!'}
    greet            shared={'wtype': 'Silicate', 'msg': 'Hello World!'}
    greet_ver        shared={'wtype': 'Silicate', 'msg': 'Hello Last Silicate World!'}

``shared['wtype']`` propagated from greet to greet_ver (but not to
greet_ver_nodep, which does not depend on greet), and greet_ver overwrote the
``shared['msg']`` it inherited, within its own shared state.

Usage: python examples/shared_state.py [thread|process]
"""

import sys

from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool


@sched.meta.func_meta(provides=["worldtype"])
def greet(shared):
    shared["msg"] = "Hello World!"
    shared["wtype"] = "Silicate"


@sched.meta.func_meta(requires=["worldtype"], kwargs={"version": "Last"})
def greet_ver(shared, **kwargs):
    shared["msg"] = f"Hello {kwargs['version']} {shared['wtype']} World!"


@sched.meta.func_meta(kwargs={"version": "Last"})
def greet_ver_nodep(shared, **kwargs):
    shared["msg"] = f"Hello {kwargs['version']} {shared['wtype']} World!"


s = sched.Sched([greet, greet_ver, greet_ver_nodep])
s.add_shared(wtype="Terrestrial")
for result in s.run(Pool(workers=2)):
    print(result)
