"""See `rewrites`."""

from .rewrites import *  # noqa: F403 - the stage's API
