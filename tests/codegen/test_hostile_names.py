"""Model-supplied strings are untrusted: hostile names in every place a name can stand (graph, input,
output, node, initializer, intermediate tensor, --name) must not put code into the generated C, must not
break the build, the report or the memory picture, and the host build must never run code from a name.

The payload is a constructor that creates a marker file: if any generated file let it out of its comment,
the host build (which loads the C into this process) would run it. `test_the_payload_is_live` shows that
it does run when a comment can be ended, so the marker check can fail."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cffi
import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import mcuq
from mcuq.codegen.cmake import cmake_lists
from mcuq.codegen.names import (
    MAX_SHOWN,
    ModelString,
    UnsafeOutputError,
    c_comment,
    c_identifier,
    c_string,
    md_code,
    md_text,
    untrusted,
    xml_text,
)
from mcuq.codegen.templating import template_environment
from mcuq.errors import McuqError, ToolchainError
from mcuq.verify.host import elf_section_names, host_compiler, refuse_load_time_code
from tests.helpers.cmake_project import cmake_build, user_project


def payload(marker: Path) -> str:
    return (f'__attribute__((constructor)) static void mcuq_pwned(void) {{ int system(const char *); '
            f'system("touch {marker}"); }}')


def hostile_names(marker: Path) -> dict[str, str]:
    code = payload(marker)
    return {
        "every_byte": "".join(chr(i) for i in range(1, 256)),
        "nul": "a\0b",
        "backslash_cr": f"x*\\\r/\r{code}\r/* ",  # the reported exploit: a spliced line ends the comment
        "backslash_lf": f"x*\\\n/\n{code}\n/* ",
        "comment_end": f"x */ {code} /* ",
        "comment_start": "x /* nested",
        "trigraph": f"x ??/\n*/ {code} /* ??= ??' ??!",
        "cr_lf": f"line\r\nbreak\n{code}",
        "quotes": "\"'\"; system(\"x\"); \"",
        "include": f'#include "/etc/passwd"\n#define main {code}',
        "long": "n" * 10_000,
        "non_ascii": "µ-Netz_ß_日本語_😀\u2028\u202e",
        "markdown_html": "<script>alert(1)</script> | `code` ``x`` [a](javascript:x) **b**",
        "terminal": "\x1b[2J\x1b[31mred\x07",
        # CMake: end a quoted argument and a command, run a process, expand variables and generator expressions
        "cmake": f'x") \nexecute_process(COMMAND touch {marker})\n# ${{CMAKE_COMMAND}} $<1:y> ; \\" [[z]] ',
    }


def conv_model(names: dict[str, str]) -> onnx.ModelProto:
    """x -> two Convs -> Concat (written in place, so the Concat's names reach its comments) -> Relu -> y,
    every name taken from ``names``."""
    rng = np.random.default_rng(0)
    n = names
    inits = {n["wa"]: rng.normal(0, 0.3, (4, 3, 3, 3)), n["ba"]: rng.normal(0, 0.1, 4),
             n["wb"]: rng.normal(0, 0.3, (2, 3, 1, 1)), n["bb"]: rng.normal(0, 0.1, 2)}
    nodes = [
        helper.make_node("Conv", [n["x"], n["wa"], n["ba"]], [n["ha"]], name=n["conv_a"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", [n["x"], n["wb"], n["bb"]], [n["hb"]], name=n["conv_b"]),
        helper.make_node("Concat", [n["ha"], n["hb"]], [n["cat"]], name=n["concat"], axis=1),
        helper.make_node("Relu", [n["cat"]], [n["y"]], name=n["relu"]),
    ]
    graph = helper.make_graph(
        nodes, n["graph"],
        [helper.make_tensor_value_info(n["x"], TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info(n["y"], TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


PLACES = ("graph", "x", "y", "conv_a", "conv_b", "concat", "relu", "wa", "ba", "wb", "bb", "ha", "hb", "cat")


def every_place(hostile: str) -> dict[str, str]:
    """The hostile name in every place at once; a suffix per place keeps the names distinct."""
    return {place: f"{hostile}#{place}" for place in PLACES}


def assert_no_payload(out: Path, prefix: str) -> None:
    """The C compiles strictly (trigraphs on, as -std=c99 does) into an object with no load-time code and
    no symbol but the model's; the report keeps its table shape; the SVG is well-formed XML."""
    c_file, obj = out / f"{prefix}.c", out / f"{prefix}.o"
    subprocess.run([*host_compiler(), "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(out), "-c",
                    str(c_file), "-o", str(obj)], check=True)
    assert ".text" in elf_section_names(obj)
    refuse_load_time_code(obj)
    symbols = subprocess.run(["nm", "-g", "--defined-only", str(obj)], capture_output=True, text=True,
                             check=True).stdout.split()[2::3]
    assert symbols and all(s.startswith(f"{prefix}_") for s in symbols), symbols
    for path in (c_file, out / f"{prefix}.h"):
        text = path.read_text()
        code = re.sub(r'/\*.*?\*/|"(?:[^"\\\n]|\\.)*"', "", text, flags=re.DOTALL)  # comments, strings
        assert not re.search(r"constructor\s*\)|system\s*\(", code)
        assert "\r" not in text and "??" not in text
    report = (out / "report.md").read_text()
    assert "\r" not in report and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", report)
    for table in re.findall(r"(?:^\|.*\n)+", report, flags=re.MULTILINE):
        rows = table.splitlines()
        cells = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
        assert len(cells) == 1, rows  # no name added or removed a cell
    ET.fromstring((out / "memory.svg").read_text())


@pytest.fixture(scope="module")
def calib():
    return np.random.default_rng(1).normal(0, 1, (8, 3, 6, 6)).astype(np.float32)


@pytest.mark.parametrize("kind", list(hostile_names(Path("/m"))))
def test_hostile_names_in_every_place(kind, tmp_path, calib):
    marker = tmp_path / "pwned"
    names = every_place(hostile_names(marker)[kind])
    model_path = tmp_path / "model.onnx"
    onnx.save(conv_model(names), model_path)
    out = tmp_path / "out"
    # --name is hostile too (shortened: a 10 kB file name is refused, see the test of long names).
    compiled = mcuq.compile(model_path, calib, out, name=names["graph"][:100])  # C vs golden checked inside
    assert not marker.exists(), "a name's payload ran inside the host build"
    assert_no_payload(out, compiled.name)
    report = json.loads((out / "report.json").read_text())
    assert names["conv_a"] in {row["name"] for row in report["layers"]}  # the JSON keeps the full name
    assert report["inputs"][0]["name"] == names["x"]
    float_out = compiled.run(calib[:2])
    assert float_out.shape == (2, 6, 6, 6)


@pytest.mark.parametrize("kind", ["backslash_cr", "trigraph", "every_byte"])
def test_hostile_names_through_the_cli(kind, tmp_path, calib):
    marker = tmp_path / "pwned"
    names = every_place(hostile_names(marker)[kind])
    model_path = tmp_path / "model.onnx"
    onnx.save(conv_model(names), model_path)
    np.save(tmp_path / "calib.npy", calib)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "mcuq", "compile", model_path, "--calib", tmp_path / "calib.npy",
                             "-o", out, "--name", names["graph"][:100]], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    prefix = c_identifier(names["graph"][:100])
    assert_no_payload(out, prefix)
    assert "\x1b" not in result.stdout + result.stderr and "\r" not in result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed (.ci/run installs it)")
@pytest.mark.parametrize("kind", ["cmake", "every_byte", "backslash_lf"])
def test_hostile_names_reach_the_cmake_file_only_as_the_c_identifier(kind, tmp_path, calib):
    """The CMakeLists.txt is the one the sanitized prefix alone gives, and a user's project that takes the
    folder with add_subdirectory configures, builds and runs without running anything from a name."""
    marker = tmp_path / "pwned"
    names = every_place(hostile_names(marker)[kind])
    onnx.save(conv_model(names), tmp_path / "model.onnx")
    out = tmp_path / "out"
    compiled = mcuq.compile(tmp_path / "model.onnx", calib, out, name=names["graph"][:100])
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", compiled.name)
    assert (out / "CMakeLists.txt").read_text() == cmake_lists(compiled.name)
    build = tmp_path / "build"
    cmake_build(user_project(tmp_path / "user", out, compiled.name), build)
    subprocess.run([str(build / "app")], capture_output=True, check=True)
    assert not marker.exists()


def test_the_payload_is_live(tmp_path):
    """The control: behind the old comment escaping (only */ and LF), the reported name does end the
    comment and its constructor runs on load. So the marker checks above can fail."""
    marker = tmp_path / "pwned"
    name = hostile_names(marker)["backslash_cr"]
    old_escaping = name.replace("*/", "* /").replace("\n", " ")
    source = tmp_path / "old.c"
    source.write_text(f"/* layer '{old_escaping}' */\nint old_invoke(void) {{ return 0; }}\n")
    lib = tmp_path / "libold.so"
    subprocess.run([*host_compiler(), "-std=c99", "-fPIC", "-shared", str(source), "-o", str(lib)], check=True)
    cffi.FFI().dlopen(str(lib))
    assert marker.exists()
    # And the host build's guard refuses such an object before linking or loading it.
    obj = tmp_path / "old.o"
    subprocess.run([*host_compiler(), "-std=c99", "-fPIC", "-c", str(source), "-o", str(obj)], check=True)
    with pytest.raises(ToolchainError, match="run when it is loaded"):
        refuse_load_time_code(obj)


def test_a_new_name_sanitized_comment_cannot_be_ended(tmp_path):
    marker = tmp_path / "pwned"
    for kind, name in hostile_names(marker).items():
        source = tmp_path / f"{kind}.c"
        source.write_text(f"/* layer '{c_comment(name)}' */\nconst char *{kind}_name = {c_string(name)};\n")
        obj = tmp_path / f"{kind}.o"
        subprocess.run([*host_compiler(), "-std=c99", "-Wall", "-Werror", "-trigraphs", "-c", str(source),
                        "-o", str(obj)], check=True)
        refuse_load_time_code(obj)


@pytest.mark.parametrize("long_name", ["n" * 300, "ü" * 300], ids=["ascii_300", "umlaut_300"])
def test_a_long_name_option_compiles_or_is_refused_cleanly(long_name, tmp_path, calib):
    model_path = tmp_path / "model.onnx"
    onnx.save(conv_model(every_place("ok")), model_path)
    try:
        compiled = mcuq.compile(model_path, calib, tmp_path / "out", name=long_name)
    except McuqError as exc:
        assert "name" in str(exc)
    else:
        assert len(compiled.c_path.name) < 255


# The sanitizers themselves, on any text.

@given(st.text())
def test_c_comment_text_cannot_end_or_splice_a_comment(text):
    safe = c_comment(text)
    assert all(" " <= ch <= "~" for ch in safe)
    for bad in ("*/", "/*", "\\", "??"):
        assert bad not in safe
    assert len(safe) <= 2 * MAX_SHOWN


def _c_literal_bytes(literal: str) -> bytes:
    assert literal[0] == literal[-1] == '"'
    body = literal[1:-1]
    assert re.fullmatch(r'(?:[ !#-/0-9:-Z\[\]-~]|\\[0-7]{3})*', body.replace("\\\\", "")), body
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), body.encode("ascii"))


@given(st.text(max_size=MAX_SHOWN))
def test_c_string_holds_the_exact_bytes(text):
    assert _c_literal_bytes(c_string(text)) == text.encode("utf-8", "backslashreplace")


@given(st.text())
def test_markdown_and_xml_text_stay_on_one_line(text):
    for safe in (md_text(text), md_code(text), xml_text(text)):
        assert not re.search(r"[\x00-\x1f\x7f\u2028\u2029]", safe)
    code = md_code(text)
    fence = re.match(r"`+", code).group(0)
    assert code.endswith(fence) and fence not in code[len(fence):-len(fence)]
    assert not re.search(r"(?<!\\)[<>&|`*_\[\]]", md_text(text))


@given(st.text())
def test_identifiers_are_c_identifiers(text):
    ident = c_identifier(text)
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", ident)


@pytest.mark.parametrize("template", [
    "{{ x }}", "{{ x ~ 'a' }}", "{{ '%s' % x }}", "{{ x | upper }}", "{{ x | join }}", "{{ [x] | join }}",
    "{{ x | string }}", "{{ x | replace('a', 'b') }}",
])
def test_templates_cannot_print_a_model_string_raw(template):
    with pytest.raises(UnsafeOutputError):
        template_environment().from_string(template).render(x=ModelString("*/ evil"))


def test_every_string_of_the_report_is_untrusted():
    wrapped = untrusted({"name": "a", "rows": [{"hints": ["b"]}], "n": 3})
    assert isinstance(wrapped["name"], ModelString) and isinstance(wrapped["rows"][0]["hints"][0], ModelString)
    assert wrapped["n"] == 3 and wrapped["name"] == "a"


def test_names_the_pipeline_uses_for_itself(tmp_path, calib):
    """Tensor names that mimic the planner's scratch buffers or the passes' derived names: the planner's
    keys are not strings, derived names are made fresh, so nothing collides (this crashed the planner)."""
    names = {place: place for place in PLACES}
    names.update(ha="__scratch_0", hb="__scratch_1", cat="scratch of layer 0", y="x__nhwc", wa="ha__weights")
    onnx.save(conv_model(names), tmp_path / "model.onnx")
    compiled = mcuq.compile(tmp_path / "model.onnx", calib, tmp_path / "out")
    assert compiled.report["verification"]["c_vs_golden"]["mismatches"] == 0
    assert compiled.report["verification"]["float_metrics"][0]["sqnr_db"] > 30
