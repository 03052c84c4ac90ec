"""Where items run. The map talks to a `Backend`; `LocalBackend` runs them in this process."""

from mapreduce_fsm.backends.base import Backend
from mapreduce_fsm.backends.local import LocalBackend

__all__ = ["Backend", "LocalBackend"]
