"""benchmarks/results.py: a script's --write-results replaces its own section of RESULTS.md and nothing
else (the pure string function; no benchmark runs here)."""

import datetime
import importlib.util

import pytest

from tests.helpers.paths import REPO


def load_results_module():
    spec = importlib.util.spec_from_file_location("bench_results", REPO / "benchmarks" / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


results = load_results_module()

DOCUMENT = """# Benchmark results

## memory.py

What memory.py measures (by hand, outside the markers).

<!-- memory.py begin -->
old memory table
<!-- memory.py end -->

## firmware.py

<!-- firmware.py begin -->
old firmware table
<!-- firmware.py end -->
"""


def test_replaces_only_its_own_section():
    updated = results.replace_section(DOCUMENT, "memory.py", "| new | table |\n")
    assert "old memory table" not in updated
    assert "<!-- memory.py begin -->\n| new | table |\n<!-- memory.py end -->" in updated
    assert "What memory.py measures (by hand, outside the markers)." in updated
    assert "old firmware table" in updated
    # Everything outside the memory section is byte for byte what it was.
    before, after = DOCUMENT.split("old memory table")
    assert updated.startswith(before.rstrip("\n")) and updated.endswith(after)


def test_replacing_twice_gives_the_same_document():
    once = results.replace_section(DOCUMENT, "firmware.py", "new")
    assert results.replace_section(once, "firmware.py", "new") == once


def test_a_script_without_a_section_gets_one_at_the_end():
    updated = results.replace_section(DOCUMENT, "compile_time.py", "timings")
    assert updated.startswith(DOCUMENT.rstrip())
    assert updated.endswith("<!-- compile_time.py begin -->\ntimings\n<!-- compile_time.py end -->\n")


@pytest.mark.parametrize("broken", [
    DOCUMENT.replace("<!-- memory.py end -->", ""),                       # end missing
    DOCUMENT.replace("<!-- memory.py begin -->", ""),                     # begin missing
    DOCUMENT + "<!-- memory.py begin -->\nagain\n<!-- memory.py end -->\n",  # section twice
    DOCUMENT.replace("<!-- memory.py begin -->", "@@").replace("<!-- memory.py end -->", "<!-- memory.py begin -->")
    .replace("@@", "<!-- memory.py end -->"),                            # end before begin
])
def test_broken_markers_are_refused_not_guessed(broken):
    with pytest.raises(ValueError, match="memory.py"):
        results.replace_section(broken, "memory.py", "new")


def test_section_body_names_the_command_and_the_date():
    body = results.section_body("python benchmarks/memory.py --write-results", datetime.date(2026, 12, 7),
                                "\n| a | b |\n\n")
    assert body.startswith("Last recorded figures: `python benchmarks/memory.py --write-results` on 2026-12-07.")
    assert body.endswith("\n\n| a | b |")


def test_every_script_that_writes_results_has_its_section():
    document = (REPO / "benchmarks" / "RESULTS.md").read_text()
    for script in ("firmware.py", "memory.py", "compile_time.py", "quant_quality.py", "real_models.py"):
        assert "results.recorded(__file__, args.write_results)" in (REPO / "benchmarks" / script).read_text()
        begin, end = results.markers(script)
        assert document.count(begin) == 1 and document.count(end) == 1, script
        assert document.index(begin) < document.index(end), script
