import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def model_zoo() -> Path:
    return Path(os.environ.get("MCUQ_MODEL_ZOO", REPO.parent / "shared" / "models"))


@pytest.fixture(scope="session")
def zoo() -> Path:
    path = model_zoo()
    if not path.is_dir():
        pytest.skip(f"model zoo not found at {path} (set MCUQ_MODEL_ZOO)")
    return path


@pytest.fixture(scope="session")
def mnist_data(zoo):
    with np.load(zoo / "mnist" / "data.npz") as d:
        return d["images"], d["labels"]


@pytest.fixture(scope="session")
def kws_data(zoo):
    with np.load(zoo / "kws_dscnn" / "data.npz") as d:
        return {k: d[k] for k in d.files}
