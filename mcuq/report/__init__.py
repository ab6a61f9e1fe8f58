"""See `summary` (rows, sections, JSON and Markdown) and `assemble` (the whole report and its files)."""

from .assemble import CalibrationFacts, PrecisionFacts, assemble, write  # noqa: F401 - the stage's API
from .summary import *  # noqa: F403 - the stage's API
