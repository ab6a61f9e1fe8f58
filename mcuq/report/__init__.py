"""See `summary`."""

from .summary import *  # noqa: F403 - the stage's API
