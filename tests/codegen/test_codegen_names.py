"""Generated identifiers and literals."""

import numpy as np
import pytest

from mcuq.codegen.names import c_identifier
from mcuq.codegen.templating import c_float


@pytest.mark.parametrize(
    "name, ident",
    [("kws-dscnn", "kws_dscnn"), ("3d model", "m_3d_model"), ("int", "int_"), ("MNIST.v2", "mnist_v2"),
     ("", "model"), ("__x__", "x")],
)
def test_identifiers_are_valid_c(name, ident):
    assert c_identifier(name) == ident


@pytest.mark.parametrize("value", [1 / 256, 0.58470290899276733, 1e-9, 3.0, 123456.78])
def test_float_literals_read_back_exactly(value):
    text = c_float(value)
    assert text.endswith("f")
    assert np.float32(float(text[:-1])) == np.float32(value)
