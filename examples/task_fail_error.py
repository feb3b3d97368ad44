"""Controlled failures: TaskFailError, its deps_ok/locks_ok, and task_fail_wrap.

A task that catches its error and raises ``pexen.sched.TaskFailError`` (or a
subclass) tells the scheduler that it failed in a controlled way and cleaned
up after itself. By default (``deps_ok=True, locks_ok=True``) its locks are
released and its ``provides`` are provided, so the tasks after it still run
(compare with failure_locks_deps.py, where they are skipped).

Each part below runs a greet_exc-like task with greet_signature (which requires
'greeting') and greet_underlings (which claims 'world'). Warnings are
caught with the standard ``warnings`` machinery and printed after each part.

Usage: python examples/task_fail_error.py [thread|process]
"""

import sys
import warnings

import pexen
from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool


def run(title, *tasks):
    """Run the tasks, print each result and any warning the run emitted."""
    print(f"== {title}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pexen.PexenWarning)
        s = sched.Sched(tasks)
        results = list(s.run(Pool(workers=2)))
    for result in results:
        print(result)
    for warning in caught:
        print(f"{warning.category.__name__}: {warning.message}")
    return results


@sched.meta.func_meta(requires=["greeting"])
def greet_signature():
    return "Yours, Mr. Builder"


@sched.meta.func_meta(claims=["world"])
def greet_underlings():
    return "Hello Minions!"


# 1. catch the error, raise TaskFailError: locks released, 'greeting' provided
@sched.meta.func_meta(priority=-1, provides=["greeting"], claims=["world"])
def greet_exc():
    try:
        test = nonexistent  # noqa: F841
    except NameError:
        raise sched.TaskFailError("Hello Harsh World!") from None
    return "Hello World!"


run("TaskFailError", greet_exc, greet_signature, greet_underlings)


# 2. release the locks, but block the tasks that depend on this one
@sched.meta.func_meta(priority=-1, provides=["greeting"], claims=["world"])
def greet_exc_nodeps():
    try:
        test = nonexistent  # noqa: F841
    except NameError:
        raise sched.TaskFailError("Hello Harsh World!", deps_ok=False, locks_ok=True) from None
    return "Hello World!"


run("deps_ok=False", greet_exc_nodeps, greet_signature, greet_underlings)


# 3. a subclass carrying data (here a report) back to the caller
class GreetingFailed(sched.TaskFailError):
    def __init__(self, msg, report, **kwargs):
        super().__init__(msg, report, **kwargs)
        self.report = report


@sched.meta.func_meta(priority=-1, provides=["greeting"], claims=["world"])
def greet_exc_report():
    tried = ["Harsh", "Cruel", "Cold"]
    raise GreetingFailed("No world wanted a greeting", {"tried": tried})


for result in run("subclass with data", greet_exc_report, greet_signature):
    if result.excinfo is not None:
        print("report:", result.excinfo.val.report)


# 4. task_fail_wrap: any exception of the task becomes a controlled failure
#    (put it above or below func_meta, the metadata stays with the task)
@sched.task_fail_wrap
@sched.meta.func_meta(priority=-1, provides=["greeting"], claims=["world"])
def greet_wrapped():
    test = nonexistent  # noqa: F821, F841
    return "Hello World!"


run("task_fail_wrap", greet_wrapped, greet_signature, greet_underlings)


@sched.meta.func_meta(priority=-1, provides=["greeting"], claims=["world"])
@sched.task_fail_wrap(deps_ok=False)
def greet_wrapped_nodeps():
    test = nonexistent  # noqa: F821, F841
    return "Hello World!"


run("task_fail_wrap(deps_ok=False)", greet_wrapped_nodeps, greet_signature)


class MyException(sched.TaskFailError):
    pass


@sched.task_fail_wrap(reraise=MyException)
@sched.meta.func_meta(priority=-1, provides=["greeting"], claims=["world"])
def greet_wrapped_reraise():
    test = nonexistent  # noqa: F821, F841
    return "Hello World!"


run("task_fail_wrap(reraise=MyException)", greet_wrapped_reraise, greet_signature)
