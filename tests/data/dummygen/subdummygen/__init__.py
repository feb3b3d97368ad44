from pexen.sched.meta import func_meta

from ..mod_a import dummy2  # noqa: F401  (imported here too: still collected once, as mod_a's)


@func_meta(requires={"a"})
def dummy3():
    return "dummy3"


alias3 = dummy3  # a second name for the same task
