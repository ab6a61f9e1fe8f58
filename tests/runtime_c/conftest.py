"""Fixtures of the C kernel tests."""

import pytest

from tests.helpers.c_kernels import VARIANTS, use_variant


@pytest.fixture(params=list(VARIANTS))
def kernel_variant(request):
    """Run a test on each kernel path the host can run: portable C and the emulated DSP path. The int8
    family files ask for it for all their tests (pytestmark)."""
    use_variant(request.param)
    yield request.param
    use_variant("portable")
