"""int8 arrays written as string literals (`templating.c_byte_strings`) hold the same bytes once compiled."""

import ctypes
import subprocess

import numpy as np
import pytest

from mcuq.codegen.templating import c_byte_strings
from mcuq.verify.host import host_compiler


@pytest.mark.parametrize("size", [1, 31, 32, 33, 5000])
def test_byte_strings_compile_to_the_values(tmp_path, size):
    values = np.random.default_rng(size).integers(-128, 128, size=size).astype(np.int8)
    values[:2] = [-128, 127][:size]
    rows = "\n".join(f'    "{row}"' for row in c_byte_strings(values))
    source = tmp_path / "bytes.c"
    source.write_text('#include <stdint.h>\n#pragma GCC diagnostic ignored "-Woverlength-strings"\n'
                      f"const int8_t values[{size}] =\n{rows}\n    ;\n")
    library = tmp_path / "libbytes.so"
    subprocess.run([*host_compiler(), "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                    str(source), "-o", str(library)], check=True)
    loaded = (ctypes.c_int8 * size).in_dll(ctypes.CDLL(str(library)), "values")
    np.testing.assert_array_equal(np.frombuffer(loaded, np.int8), values)
