from pexen.sched.meta import func_meta


@func_meta(requires={"a"})
def dummy4(shared):
    return "dummy4"
