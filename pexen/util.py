"""Root exception and warning classes of pexen."""


class PexenError(Exception):
    """Base class of every error pexen raises on its own account."""


class PexenWarning(UserWarning):
    """Base class of every warning pexen emits (skipped tasks, held locks, ...)."""
