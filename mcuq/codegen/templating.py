"""The one Jinja2 environment for every template (model C, header, report) and its filters.

Filters only format numbers and text; the C itself is in `templates/`. A model-supplied string reaches a
template as a `names.ModelString`, which only the sanitizing filters of `names` (c_comment, c_string,
md_text, md_code, xml_text) can print.
"""

from __future__ import annotations

import math
from functools import lru_cache

import jinja2
import numpy as np

from mcuq.codegen.names import SANITIZERS, ModelString, md_text
from mcuq.codegen.views import Arena, Context, Ref, Symbol
from mcuq.resources import resource_dir

TEXT_TABLE_MAX = 1 << 16  # widest value range `c_rows` formats through a table


def c_float(value: float) -> str:
    """A float literal that reads back to the same float32."""
    text = f"{np.float32(value):.9g}"
    if "e" not in text and "." not in text:
        text += ".0"
    return text + "f"


def c_rows(values, per_line: int = 16, suffix: str = "") -> list[str]:
    """Array initializer rows of comma-separated integers (``suffix`` "LL" for int64 values)."""
    flat = _integer_texts(np.asarray(values).reshape(-1), suffix)
    return [", ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]


BYTES_PER_STRING = 32  # int8 values per string literal row of `c_byte_strings`
_BYTE_ESCAPES = [f"\\x{byte:02x}" for byte in range(256)]


def c_byte_strings(values) -> list[str]:
    """int8 values as the rows of a string-literal initializer, every byte a \\xNN escape. gcc and clang
    parse megabytes of these 20-30x faster than comma-separated numbers (resnet18's 11 MB of weights: 0.6 s
    against 18 s of gcc's CPU time, 0.2 GB of memory against 1.4 GB), and the array's bytes are the same."""
    data = np.asarray(values, dtype=np.int8).reshape(-1).view(np.uint8).tolist()
    return ["".join(_BYTE_ESCAPES[b] for b in data[i : i + BYTES_PER_STRING])
            for i in range(0, len(data), BYTES_PER_STRING)]


def _integer_texts(array: np.ndarray, suffix: str) -> list[str]:
    """Each value as a C integer literal (truncated as C converts a float). Megabytes of weights: the
    values of a narrow integer range are looked up in a table of their texts, several times faster
    than formatting each one."""
    if array.dtype.kind not in "iu" or not array.size:
        return [f"{int(v)}{suffix}" for v in array]
    lo, hi = int(array.min()), int(array.max())
    if hi - lo > TEXT_TABLE_MAX:
        return [f"{v}{suffix}" for v in array.tolist()]
    table = [f"{v}{suffix}" for v in range(lo, hi + 1)]
    return [table[v] for v in (array.astype(np.int64) - lo).tolist()]


def c_initializer(value, symbol, top: bool = True) -> str:
    """The C initializer of a view's struct value (see `views`): a dict is a struct with designated
    fields (one per line at the top level), a tuple a positional one or an array, a list an array of
    structs (one per line); ``symbol`` names a `views.Symbol` (another array of the layer)."""
    if isinstance(value, Symbol):
        return symbol(value.name)
    if isinstance(value, dict):
        fields = [f".{k} = {c_initializer(v, symbol, False)}" for k, v in value.items()]
        return "{\n" + "".join(f"    {f},\n" for f in fields) + "}" if top else "{" + ", ".join(fields) + "}"
    if isinstance(value, list):
        return "{\n" + "".join(f"    {c_initializer(v, symbol, False)},\n" for v in value) + "}"
    if isinstance(value, tuple):
        return "{" + ", ".join(c_initializer(v, symbol, False) for v in value) + "}"
    return str(int(value))


def c_argument(arg, symbol) -> str:
    """A kernel call's argument (see `views`) as C, the arena being ``int8_t *arena``."""
    if isinstance(arg, Arena):
        at = f"arena + {arg.offset}"
        return at if arg.ctype == "int8_t" else f"({'const ' if arg.const else ''}{arg.ctype} *)({at})"
    if isinstance(arg, Ref):
        return f"&{symbol(arg.name)}" + ("" if arg.index is None else f"[{arg.index}]")
    if isinstance(arg, Symbol):
        return symbol(arg.name)
    if isinstance(arg, Context):
        return "&ctx"
    return str(int(arg))


def c_call(call, symbol, column: int = 17, width: int = 116) -> str:
    """``function(arguments)`` starting at ``column`` (after ``status = `` in a layer's block),
    wrapped under the opening parenthesis where a line would pass ``width``."""
    head = f"{call.function}("
    lines, line = [], " " * column + head
    for i, arg in enumerate(call.args):
        text = c_argument(arg, symbol) + (", " if i < len(call.args) - 1 else ")")
        if len(line) + len(text.rstrip()) > width and not line.endswith("("):
            lines.append(line.rstrip())
            line = " " * (column + len(head))
        line += text
    return "\n".join([*lines, line])[column:]


def db_text(value) -> str:
    """A decibel figure for the report: one decimal, "exact" for a noiseless result."""
    if value is None:
        return "–"
    if isinstance(value, (str, ModelString)) or not math.isfinite(value):
        return "exact" if value == "inf" or value == math.inf else md_text(value)
    return f"{value:.1f}"


def range_text(value) -> str:
    """A [lo, hi] range for the report, or a dash when unknown."""
    if value is None:
        return "–"
    return f"[{value[0]:.3g}, {value[1]:.3g}]"


def share_text(value: float) -> str:
    """A share as a percentage: "0" when none, "<0.01 %" when tiny."""
    if not value:
        return "0"
    if value < 1e-4:
        return "<0.01 %"
    return f"{100 * value:.2g} %"


@lru_cache(maxsize=1)
def template_environment() -> jinja2.Environment:
    """The one Jinja environment for every template (C, header, report); unknown names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(c_float=c_float, c_rows=c_rows, c_byte_strings=c_byte_strings,
                       c_initializer=c_initializer, c_call=c_call,
                       db=db_text, range_text=range_text, share=share_text,
                       **SANITIZERS)
    return env
