"""See `compare`."""

from .compare import *  # noqa: F403 - the stage's API
