"""Exceptions the engine raises for bad input.

Every error an animator can cause (a malformed file, an unknown joint name, a NaN) is a
`HandMotionError`; the CLI prints its message as one line and exits non-zero, the server turns it
into a 4xx JSON error. Anything else is a bug.
"""


class HandMotionError(Exception):
    """Base class of all user-facing engine errors."""


class MotionFormatError(HandMotionError, ValueError):
    """A motion file or payload cannot be read: wrong format, shape, values or names."""


class MotionValueError(HandMotionError, ValueError):
    """Motion data are readable but invalid (NaN/inf, wrong shapes, inconsistent lengths)."""
