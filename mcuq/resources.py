"""Where the non-Python parts live: `templates/`, `runtime_c/` and `boards/`.

In a source checkout (and an editable install) they sit beside the package; a wheel carries them
inside the package as `mcuq/templates`, `mcuq/runtime_c`, `mcuq/boards` (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mcuq installation is incomplete: no {name}/ folder beside {PACKAGE_DIR}")
