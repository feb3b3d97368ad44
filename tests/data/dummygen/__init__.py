"""A package tree for the factory tests: tagged functions at each level."""

from pexen.sched.meta import func_meta


@func_meta
def dummy1():
    return "dummy1"


def match_top():
    return "match_top"
