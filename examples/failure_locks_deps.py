"""An uncontrolled failure keeps its locks and never provides its provides.

greet_exc (priority -1, so it starts first) claims 'world' and would provide
'greeting', but it fails with a NameError. So greet_signature, which requires
'greeting', and greet_underlings, which also claims 'world', never run. When
the run ends, two ``pexen.PexenWarning`` warnings say so (on stderr):

    PexenWarning: 1 tasks skipped due to unmet deps caused by parent exception
    PexenWarning: 1 locks still held at exit due to parent exception

See task_fail_error.py for failing in a controlled way instead.

Usage: python examples/failure_locks_deps.py [thread|process]
"""

import sys

from pexen import sched

kind = sys.argv[1] if len(sys.argv) > 1 else "thread"
if kind not in ("thread", "process"):
    sys.exit(f"usage: {sys.argv[0]} [thread|process]")
Pool = sched.pool.ThreadWorkerPool if kind == "thread" else sched.pool.ProcessWorkerPool


@sched.meta.func_meta(priority=-1, provides=["greeting"], claims=["world"])
def greet_exc():
    test = nonexistent  # noqa: F821, F841
    return "Hello World!"


@sched.meta.func_meta(requires=["greeting"])
def greet_signature():
    return "Yours, Mr. Builder"


@sched.meta.func_meta(claims=["world"])
def greet_underlings():
    return "Hello Minions!"


s = sched.Sched([greet_exc, greet_signature, greet_underlings])
for result in s.run(Pool(workers=2)):
    print(result)
