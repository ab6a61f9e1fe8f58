"""See `graph`."""

from .graph import *  # noqa: F403 - the stage's API
