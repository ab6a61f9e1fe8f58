"""Board files: every one parses and has the memory map the issue and the vendors give; a malformed
file or an unknown board is an error that names the problem."""

import pytest

from mcuq.firmware import boards
from mcuq.firmware.boards import BoardError, get_board, parse_board

# (core flag, flash origin, RAM origin, QEMU machine) as the vendors' memory maps and QEMU give them.
EXPECTED = {
    "mps2-an385": ("cortex-m3", 0x00000000, 0x20000000, "mps2-an385"),
    "mps2-an386": ("cortex-m4", 0x00000000, 0x20000000, "mps2-an386"),
    "mps2-an500": ("cortex-m7", 0x00000000, 0x20000000, "mps2-an500"),
    "mps2-an505": ("cortex-m33", 0x10000000, 0x38000000, "mps2-an505"),
    "mps3-an547": ("cortex-m55", 0x10000000, 0x30000000, "mps3-an547"),
    "microbit": ("cortex-m0", 0x00000000, 0x20000000, "microbit"),
    "nucleo-l4r5zi": ("cortex-m4", 0x08000000, 0x20000000, None),
    "stm32f746g-disco": ("cortex-m7", 0x08000000, 0x20000000, None),
    "nrf52840-dk": ("cortex-m4", 0x00000000, 0x20000000, None),
    "rpi-pico": ("cortex-m0plus", 0x10000000, 0x20000000, None),
}


def test_every_board_parses_with_its_memory_map():
    found = {b.name: b for b in boards.all_boards()}
    assert set(found) == set(EXPECTED)
    for name, (cpu, flash, ram, machine) in EXPECTED.items():
        board = found[name]
        assert (board.cpu, board.flash.origin, board.ram.origin, board.qemu_machine) == (cpu, flash, ram, machine)
        flags = board.cpu_flags()
        assert f"-mcpu={cpu}" in flags and "-mthumb" in flags
        assert ("-mfloat-abi=soft" in flags) == (board.fpu == "none")
    assert found["microbit"].ram.length == 16 * 1024
    assert found["mps3-an547"].mve and not found["mps2-an386"].mve
    assert found["rpi-pico"].core == "M0+" and found["mps2-an505"].core == "M33"


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(BoardError, match="unknown board 'stm32'.*mps2-an386"):
        get_board("stm32")


BASE = """name = "{name}"
description = "test"
cpu = "cortex-m4"
fpu = "fpv4-sp-d16"
float_abi = "hard"
dsp = true
mve = false
clock_hz = 1000
[flash]
origin = 0
length = 1024
[ram]
origin = 0x20000000
length = 1024
"""


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('clock_hz = 1000\n', ''), "missing keys \\['clock_hz'\\]"),
    (lambda t: 'colour = "red"\n' + t, "unknown keys \\['colour'\\]"),
    (lambda t: t.replace('dsp = true', 'dsp = "yes"'), "dsp must be a bool"),
    (lambda t: t.replace('float_abi = "hard"', 'float_abi = "soft"'), "does not fit fpu"),
    (lambda t: t.replace('cpu = "cortex-m4"', 'cpu = "cortex-a53"'), "not a Cortex-M core"),
    (lambda t: t.replace('length = 1024\n[ram]', 'length = 0\n[ram]'), "\\[flash\\] origin/length"),
    (lambda t: t.replace('"{name}"', '"other"'), "must equal the file name"),
    (lambda t: t.replace("[flash]", "[flash"), "not valid TOML"),
])
def test_malformed_board_files_name_the_problem(tmp_path, edit, message):
    path = tmp_path / "myboard.toml"
    path.write_text(edit(BASE).replace("{name}", "myboard"))
    with pytest.raises(BoardError, match=message):
        parse_board(path)


def test_a_good_board_file_parses(tmp_path):
    path = tmp_path / "myboard.toml"
    path.write_text(BASE.replace("{name}", "myboard"))
    board = parse_board(path)
    assert not board.emulated and board.ram.length == 1024
