"""benchmarks/RESULTS.md is written by the benchmark scripts: each owns one section, between
`<!-- SCRIPT begin -->` and `<!-- SCRIPT end -->`, which `--write-results` replaces with the tables the
script printed, headed by the command that printed them and the date. Everything outside the markers
(what each script measures and how) is written by hand and left alone.

    parser = argparse.ArgumentParser(...)
    results.add_option(parser)
    ...
    with results.recorded(__file__, args.write_results):
        print(...)   # still printed; also kept for RESULTS.md if the block finishes
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def markers(script: str) -> tuple[str, str]:
    """The begin and end marker lines of a script's section, e.g. for "firmware.py"."""
    return f"<!-- {script} begin -->", f"<!-- {script} end -->"


def replace_section(document: str, script: str, body: str) -> str:
    """The document with the text between the script's markers replaced by ``body``; a document without
    them gets the section appended. Markers that are missing one half, repeated or out of order are an
    error rather than a guess at which text to overwrite."""
    begin, end = markers(script)
    n_begin, n_end = document.count(begin), document.count(end)
    if n_begin == n_end == 0:
        return f"{document.rstrip()}\n\n{begin}\n{body.strip()}\n{end}\n"
    start, stop = document.find(begin), document.find(end)
    if n_begin != 1 or n_end != 1 or stop < start:
        raise ValueError(f"{RESULTS.name}: the section markers of {script} are broken (expected one "
                         f"'{begin}' before one '{end}', found {n_begin} and {n_end}); mend them by hand")
    return f"{document[:start + len(begin)]}\n{body.strip()}\n{document[stop:]}"


def section_body(command: str, day: datetime.date, printed: str) -> str:
    """What a script's section holds: the command and date, then what it printed."""
    return (f"Last recorded figures: `{command}` on {day.isoformat()}. Run the same command to refresh "
            f"them.\n\n{printed.strip()}")


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--write-results", action="store_true",
                        help=f"also put the printed tables into this script's section of {RESULTS.name}")


class _Tee(io.StringIO):
    """Keeps what is written and passes it on, so the run still prints as it goes."""

    def __init__(self, passthrough):
        super().__init__()
        self.passthrough = passthrough

    def write(self, text: str) -> int:
        self.passthrough.write(text)
        return super().write(text)

    def flush(self) -> None:
        self.passthrough.flush()


@contextlib.contextmanager
def recorded(script_file: str, enabled: bool, results: Path = RESULTS):
    """Run the block; when ``enabled`` and the block finishes without an exception, write what it printed
    to standard output into the script's section of RESULTS.md (a failed run leaves the file alone)."""
    if not enabled:
        yield
        return
    script = Path(script_file).name
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        yield
    command = shlex.join(["python", f"benchmarks/{script}", *sys.argv[1:]])
    body = section_body(command, datetime.date.today(), tee.getvalue())
    document = results.read_text() if results.exists() else "# Benchmark results\n"
    results.write_text(replace_section(document, script, body))
    print(f"wrote the {script} section of {results}", file=sys.stderr)
