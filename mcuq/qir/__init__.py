"""See `model`."""

from .model import *  # noqa: F403 - the stage's API
