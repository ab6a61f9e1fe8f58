"""A user's CMake project that takes an mcuq output folder with one `add_subdirectory` and runs the model
once (tests/firmware/test_cmake.py, tests/codegen/test_hostile_names.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

# The user's project: one add_subdirectory, one target_link_libraries.
USER_PROJECT = """
cmake_minimum_required(VERSION 3.13)
project(user_app C)
add_subdirectory("{model_dir}" model)
add_executable(app main.c)
target_link_libraries(app PRIVATE mcuq::{prefix})
"""

# Runs the model once on a fixed input pattern and prints the output values, one per line.
USER_MAIN = """
#include <stdio.h>
#include "{prefix}.h"

static int8_t input[{PREFIX}_INPUT_SIZE];
static int8_t output[{PREFIX}_OUTPUT_SIZE];

int main(void)
{{
    for (int i = 0; i < {PREFIX}_INPUT_SIZE; i++) {{
        input[i] = (int8_t)((i * 37) % 256 - 128);
    }}
    if ({prefix}_invoke(input, output) != 0) {{
        return 2;
    }}
    for (int i = 0; i < {PREFIX}_OUTPUT_SIZE; i++) {{
        printf("%d\\n", output[i]);
    }}
    return 0;
}}
"""


def cmake_build(source: Path, build: Path, *options: str) -> None:
    for command in (["cmake", "-S", str(source), "-B", str(build), *options], ["cmake", "--build", str(build)]):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def user_project(folder: Path, model_dir: Path, prefix: str) -> Path:
    folder.mkdir()
    (folder / "CMakeLists.txt").write_text(USER_PROJECT.format(model_dir=model_dir.as_posix(), prefix=prefix))
    (folder / "main.c").write_text(USER_MAIN.format(prefix=prefix, PREFIX=prefix.upper()))
    return folder
