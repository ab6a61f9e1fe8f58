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


@pytest.fixture(autouse=True)
def fresh_shared_weights():
    """Tests in several files build models with `test_ops_end_to_end.conv`, whose weights come from
    that module's one generator; reset it before each test so that a test's weights (and the margins
    it asserts) do not depend on which tests ran before it."""
    import sys

    shared = sys.modules.get("test_ops_end_to_end")
    if shared is not None:
        shared.RNG = np.random.default_rng(1234)
