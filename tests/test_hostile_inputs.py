"""Bad and hostile inputs, each through the command line and through `mcuq.compile`: one clear error
(``error:`` and exit status 2 on the command line, an McuqError from the API), no traceback, nothing
the user had changed: the model file, its folder, and the output folder are byte for byte as before.
A bug of mcuq's own is an ``internal error:`` line, exit status 3, and a file with the traceback."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import mcuq
from mcuq.errors import McuqError

rng = np.random.default_rng(7)


# --------------------------------------------------------------------------------------------
# Models


def dense_model(weight: np.ndarray | None = None, input_dims=(1, 8)) -> onnx.ModelProto:
    """x -> Gemm(W) -> Relu -> y, W of shape (4, 8)."""
    weight = rng.normal(0, 0.3, (4, 8)).astype(np.float32) if weight is None else weight
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Gemm", ["x", "W", "B"], ["h"], name="fc", transB=1),
             helper.make_node("Relu", ["h"], ["y"], name="relu")]
    inits = [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(np.zeros(4, np.float32), "B")]
    return finish(helper.make_graph(nodes, "g", [x], [y], inits))


def finish(graph) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def with_external_weight(folder: Path, location: str) -> Path:
    """The dense model with W's data moved to external data at ``location`` (written or not by the caller)."""
    model = dense_model()
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value=location)
    weight.external_data.add(key="offset", value="0")
    weight.external_data.add(key="length", value=str(4 * 8 * 4))
    path = folder / "model.onnx"
    onnx.save(model, path)
    return path


def shape_of_huge_input() -> onnx.ModelProto:
    """A 1x3x100000x100000 input whose Shape feeds a Reshape: folding it allocates 112 GiB."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 100000, 100000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["zeros"],
                              value=numpy_helper.from_array(np.zeros(1, np.float32))),
             helper.make_node("Add", ["x", "zeros"], ["y"])]
    return finish(helper.make_graph(nodes, "huge", [x], [y]))


def relu_model(input_dims) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    return finish(helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g", [x], [y]))


# --------------------------------------------------------------------------------------------
# One case: a folder holding the model, its calibration data and whatever the case adds


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file (and link) below ``folders``, with a hash of its content."""
    seen = {}
    for folder in folders:
        if not os.path.lexists(folder):
            continue
        for path in sorted(Path(folder).rglob("*")):
            if path.is_symlink():
                seen[str(path)] = "link to " + os.readlink(path)
            elif path.is_file():
                seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                seen[str(path)] = "folder"
    return seen


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcuq", *map(str, args)], capture_output=True, text=True)


def one_error_line(result: subprocess.CompletedProcess, status: int = 2, prefix: str = "error: ") -> str:
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith(("error: ", "internal error: "))]
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
    return lines[0]


def refused(how: str, model: Path, calib, out: Path, *, watch: tuple[Path, ...] = (), **options) -> str:
    """Compile through ``how`` ("cli" or "api"), expect a clear refusal, check nothing changed, and
    return the message."""
    before = snapshot(model.parent, out, *watch)
    if how == "cli":
        args = ["compile", model, "-o", out, "-q"]
        if calib is not None:
            np.save(model.parent.parent / "calib-for-cli.npy", calib)
            args += ["--calib", model.parent.parent / "calib-for-cli.npy"]
            before = snapshot(model.parent, out, *watch)
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}"] + ([] if value is True else [value])
        message = one_error_line(cli(*args))
    else:
        api = {k: v for k, v in options.items() if k != "input_shape"}
        if "input_shape" in options:
            name, dims = options["input_shape"].split(":")
            api["input_shapes"] = {name: tuple(int(d) for d in dims.split(","))}
        with pytest.raises(McuqError) as caught:
            mcuq.compile(model, calib, out, **api)
        message = str(caught.value)
    assert snapshot(model.parent, out, *watch) == before, "a refused compile changed the user's files"
    return message


INTERFACES = ["cli", "api"]


@pytest.fixture
def case(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


CALIB = rng.normal(0, 1, (16, 8)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# External data: never read outside the model's folder


@pytest.mark.parametrize("how", INTERFACES)
def test_external_data_at_an_absolute_location(how, case, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(32, np.float32).tobytes())
    model = with_external_weight(case, str(secret))
    message = refused(how, model, CALIB, tmp_path / "out")
    assert "absolute path" in message and "'W'" in message


@pytest.mark.parametrize("how", INTERFACES)
def test_external_data_outside_the_folder(how, case, tmp_path):
    (tmp_path / "outside.bin").write_bytes(np.ones(32, np.float32).tobytes())
    model = with_external_weight(case, "../outside.bin")
    message = refused(how, model, CALIB, tmp_path / "out")
    assert "outside the model's folder" in message


@pytest.mark.parametrize("how", INTERFACES)
def test_external_data_through_a_link_out_of_the_folder(how, case, tmp_path):
    (tmp_path / "outside.bin").write_bytes(np.ones(32, np.float32).tobytes())
    (case / "weights.bin").symlink_to(tmp_path / "outside.bin")
    model = with_external_weight(case, "weights.bin")
    message = refused(how, model, CALIB, tmp_path / "out")
    assert "symbolic link" in message


@pytest.mark.parametrize("how", INTERFACES)
def test_missing_external_data(how, case, tmp_path):
    model = with_external_weight(case, "weights.bin")
    message = refused(how, model, CALIB, tmp_path / "out")
    assert "does not exist" in message and "weights.bin" in message


def test_external_data_beside_the_model_is_read(case, tmp_path):
    """The control: the same file with its data where it belongs compiles."""
    model = dense_model()
    path = case / "model.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
              size_threshold=0)
    compiled = mcuq.compile(path, CALIB, tmp_path / "out")
    assert compiled.report["verification"]["c_vs_golden"]["mismatches"] == 0


# --------------------------------------------------------------------------------------------
# Weights no float model computes with


@pytest.mark.parametrize("how", INTERFACES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, 3e38], ids=["nan", "inf", "3e38"])
def test_weights_that_are_not_finite_or_overflow(how, bad, case, tmp_path):
    weight = rng.normal(0, 0.3, (4, 8)).astype(np.float32)
    weight[2, 5] = bad
    path = case / "model.onnx"
    onnx.save(dense_model(weight), path)
    message = refused(how, path, CALIB, tmp_path / "out")
    assert "initializer 'W'" in message and "[2, 5]" in message


@pytest.mark.parametrize("how", INTERFACES)
def test_calibration_data_that_overflows_the_float_model(how, case, tmp_path):
    """Finite weights, finite data, but float32 overflows inside the model: no range holds Inf."""
    weight = np.full((4, 8), 1e20, np.float32)
    path = case / "model.onnx"
    onnx.save(dense_model(weight), path)
    message = refused(how, path, np.full((4, 8), 1e20, np.float32), tmp_path / "out")
    assert "NaN or Inf" in message and "fc" in message


# --------------------------------------------------------------------------------------------
# Sizes no microcontroller model has


@pytest.mark.parametrize("how", INTERFACES)
def test_a_huge_input_is_refused_before_allocating(how, case, tmp_path):
    path = case / "model.onnx"
    onnx.save(shape_of_huge_input(), path)
    message = refused(how, path, None, tmp_path / "out")
    assert "GiB" in message and "100000" in message


@pytest.mark.parametrize("how", INTERFACES)
def test_a_zero_sized_input_is_called_zero_sized(how, case, tmp_path):
    path = case / "model.onnx"
    onnx.save(relu_model([1, 0, 4]), path)
    message = refused(how, path, None, tmp_path / "out")
    assert "size 0" in message and "dynamic" not in message


@pytest.mark.parametrize("how", INTERFACES)
def test_a_rank_0_input(how, case, tmp_path):
    path = case / "model.onnx"
    onnx.save(relu_model([]), path)
    message = refused(how, path, rng.normal(0, 1, (4,)).astype(np.float32), tmp_path / "out")
    assert "rank 0" in message


@pytest.mark.parametrize("how", INTERFACES)
def test_a_rank_1_input_and_the_shapes_a_user_then_tries(how, case, tmp_path):
    """A rank-1 input [8] has no batch dimension: refused, naming the re-export that fixes it. What a
    user tries next from the message, --input-shape with a batch of 1, contradicts the model file
    (ONNX Runtime runs it as it is): refused too, clearly, never a traceback from the float reference."""
    path = case / "model.onnx"
    onnx.save(relu_model([8]), path)
    calib = rng.normal(0, 1, (4, 8)).astype(np.float32)
    first = refused(how, path, calib, tmp_path / "out")
    assert "batch" in first and "[1, 8]" in first
    for tried, shaped in (("x:1", calib[:, :1]), ("x:1,8", calib)):
        again = refused(how, path, shaped, tmp_path / "out2", input_shape=tried)
        assert "fixes it at 8" in again or "rank 1" in again


# --------------------------------------------------------------------------------------------
# The output folder and the name of the files


@pytest.mark.parametrize("how", INTERFACES)
def test_an_output_folder_that_cannot_be_written(how, case, tmp_path):
    path = case / "model.onnx"
    onnx.save(dense_model(), path)
    if os.geteuid() == 0:  # root writes wherever a mode allows; sysfs refuses new files even to root
        out = next((p for p in map(Path, ("/sys/kernel/software_nodes", "/sys/kernel/iommu_groups"))
                    if p.is_dir() and not any(p.iterdir())), None)
        if out is None:
            pytest.skip("no empty read-only folder for root on this machine")
    else:
        out = tmp_path / "read-only"
        out.mkdir()
        out.chmod(0o555)
    message = refused(how, path, CALIB, out)
    assert "cannot write in the output folder" in message


@pytest.mark.parametrize("how", INTERFACES)
def test_an_output_folder_that_cannot_be_created(how, case, tmp_path):
    path = case / "model.onnx"
    onnx.save(dense_model(), path)
    (tmp_path / "a-file").write_text("keep me")
    message = refused(how, path, CALIB, tmp_path / "a-file" / "out", watch=(tmp_path / "a-file",))
    assert "output folder" in message


@pytest.mark.parametrize("how", INTERFACES)
@pytest.mark.parametrize("long_name", ["n" * 300, "aü" * 150], ids=["ascii_300", "umlaut_300"])
def test_a_name_too_long_for_the_file_system(how, long_name, case, tmp_path):
    path = case / "model.onnx"
    onnx.save(dense_model(), path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    message = refused(how, path, CALIB, out, name=long_name, force=True)
    assert "--name" in message and "bytes long" in message


def test_a_failure_midway_leaves_the_output_folder_as_it_was(case, tmp_path, monkeypatch):
    """--force over an earlier result, then a refusal after the new C and header were written: the
    earlier files come back unchanged and nothing new stays."""
    path = case / "model.onnx"
    onnx.save(dense_model(), path)
    out = tmp_path / "out"
    mcuq.compile(path, CALIB, out, name="model")
    (out / "notes.txt").write_text("keep me")
    earlier = snapshot(out)

    def refuse_late(*args, **kwargs):
        assert (out / "model.c").is_file()  # the job did write its files before failing
        raise McuqError("a late refusal")

    monkeypatch.setattr(mcuq.pipeline.diagnose, "diagnose", refuse_late)
    with pytest.raises(McuqError, match="a late refusal"):
        mcuq.compile(path, CALIB, out, name="model", force=True)
    assert snapshot(out) == earlier


# --------------------------------------------------------------------------------------------
# A bug of mcuq's own


def test_an_internal_error_is_not_a_user_error(tmp_path):
    """Any exception that is not an McuqError: one `internal error:` line naming the traceback file,
    exit status 3, and the output folder as it was."""
    path = tmp_path / "model.onnx"
    onnx.save(dense_model(), path)
    np.save(tmp_path / "calib.npy", CALIB)
    out = tmp_path / "out"
    mcuq.compile(path, CALIB, out)
    earlier = snapshot(out)
    script = (  # a bug after the C was written: the earlier result comes back
        "import sys, mcuq.verify.diagnose as d\n"
        "def broken(*a, **k): raise KeyError('a bug')\n"
        "d.diagnose = broken\n"
        "from mcuq.cli import main\n"
        f"sys.exit(main(['compile', {str(path)!r}, '--calib', {str(tmp_path / 'calib.npy')!r}, '-o', {str(out)!r}, "
        "'--force']))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    line = one_error_line(result, status=3, prefix="internal error: ")
    assert "KeyError" in line and "not a problem with your input" in line
    trace_file = Path(line.split("the full traceback is in ")[1].split(":")[0])
    try:
        assert "KeyError: 'a bug'" in trace_file.read_text()
    finally:
        trace_file.unlink()
    assert snapshot(out) == earlier
