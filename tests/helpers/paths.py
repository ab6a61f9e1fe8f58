"""Where the tests find things: the repository root (every path a test needs starts here, whatever
folder the test lives in) and the shared model zoo."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def model_zoo() -> Path:
    """The shared models: $MCUQ_MODEL_ZOO, else ../shared/models beside the repository."""
    return Path(os.environ.get("MCUQ_MODEL_ZOO", REPO.parent / "shared" / "models"))
