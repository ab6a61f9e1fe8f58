"""See `emit`."""

from .emit import *  # noqa: F403 - the stage's API
