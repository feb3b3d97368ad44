"""Task metadata (public path; defined in :mod:`pexen.vocab.meta`).

A task's metadata is a :class:`SchedMeta` stored on the callable::

    from pexen.sched import meta

    @meta.func_meta(requires={"config"}, provides={"build"}, claims={"cpu"})
    def build(shared):
        ...

    meta.get_provides(build)  # {'build'}
"""

from pexen.vocab.meta import (
    CHECKS,
    FIELDS,
    FieldProblem,
    SchedMeta,
    assign_meta,
    assign_val,
    func_meta,
    get_claims,
    get_kwargs,
    get_priority,
    get_provides,
    get_requires,
    get_timeout,
    get_uses,
    has_meta,
    retrieve_meta,
)

__all__ = [
    "CHECKS",
    "FIELDS",
    "FieldProblem",
    "SchedMeta",
    "assign_meta",
    "assign_val",
    "func_meta",
    "get_claims",
    "get_kwargs",
    "get_priority",
    "get_provides",
    "get_requires",
    "get_timeout",
    "get_uses",
    "has_meta",
    "retrieve_meta",
]
