from pexen.sched.meta import func_meta


@func_meta(provides={"a"})
def dummy2():
    return "dummy2"


def match_a():
    return "match_a"


def helper_a():
    return "not a task: untagged, and no match"
