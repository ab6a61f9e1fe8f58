"""Fixtures for every suite below tests/. Shared code that is not a fixture lives in tests/helpers/."""

import numpy as np
import pytest

from tests.helpers import small_models
from tests.helpers.paths import model_zoo


@pytest.fixture(scope="session")
def zoo():
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
    """Tests in several folders build models with `small_models.conv`, whose weights come from that
    module's one generator; reset it before each test so that a test's weights (and the margins it
    asserts) do not depend on which tests ran before it."""
    small_models.reset_weights()
