"""Tasks are any callables, not only plain functions.

Metadata is stored as an attribute of the task, so a task that carries metadata
must accept attributes: functions, lambdas, closures, ``functools.partial`` and
instances of classes with ``__call__`` do. Callables without metadata (a bound
method, a builtin) run with the defaults. The calling convention of
calling_convention.py applies to each of them, judged by its signature.

With ProcessWorkerPool, closures and lambdas travel to the workers too.

Usage: python examples/callable_kinds.py [thread|process]
"""

import functools
import os
import sys

from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool


class Greeter:
    def __init__(self, greeting):
        self.greeting = greeting

    # an instance with __call__: kwargs arrive as keyword arguments
    def __call__(self, *, version):
        return f"instance: {self.greeting} {version} World!"

    # a bound method: `self` is bound already, so `shared` is its positional
    def greet_shared(self, shared):
        return f"bound method: {self.greeting} {shared['wtype']} World!"


def make_greeter(world):
    def greet_closure():
        return f"closure: Hello {world} World!"

    return greet_closure


def greet_words(greeting, shared):
    return f"partial: {greeting} {shared['wtype']} World!"


instance = Greeter("Howdy")
sched.meta.assign_val(instance, kwargs={"version": "Callable"})

closure = make_greeter("Enclosed")
sched.meta.assign_val(closure, priority=1)

partial = functools.partial(greet_words, "Hi")
sched.meta.assign_val(partial, priority=2)

tasks = [
    instance,
    Greeter("Hey").greet_shared,
    closure,
    partial,
    lambda: "lambda: Hello Anonymous World!",
    os.getpid,  # a builtin; returns the pid of the process it ran in
]

s = sched.Sched(tasks)
s.add_shared(wtype="Terrestrial")
for result in s.run(Pool(workers=2)):
    if result.task is os.getpid:
        where = "this process" if result.ret == os.getpid() else "a worker process"
        print(f"builtin: os.getpid ran in {where}")
    else:
        print(result.ret if result.excinfo is None else result.excinfo)
