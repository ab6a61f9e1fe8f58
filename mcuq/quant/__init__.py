"""See `lower`."""

from .lower import *  # noqa: F403 - the stage's API
