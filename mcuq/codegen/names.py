"""Model-supplied strings: one sanitizer per output context, and the wrapper that makes them the only way out.

An ONNX file is untrusted input. Its names (graph, inputs, outputs, nodes, tensors) end up in generated C,
the header, the report and the memory picture, and the host build compiles the C and loads it into the
user's process: a name that ends a C comment early is remote code execution. So a model string never
reaches a template as a `str`. The view layer wraps it in `ModelString`, which refuses to be printed
(`str()`, `format()`, `%`, `~` and every filter that needs text raise), and a template prints it only
through the filter for its context:

    c_comment   inside /* */: printable ASCII without */ /* \\ ?? or line breaks of any kind
    c_string    a whole C string literal, every other byte as a 3-digit octal escape
    md_text     Markdown and HTML text: markup characters backslash-escaped, no line breaks
    md_code     a Markdown code span that no backtick, pipe or line break can end
    xml_text    SVG/XML character data (escaped, no characters XML forbids)
    terminal_text  what the command line prints: no control characters but line breaks and tabs

`c_identifier` turns a name into a C identifier (used for the symbol prefix and file names).
"""

from __future__ import annotations

import keyword
import re
from xml.sax.saxutils import escape as _xml_escape

# Longest name printed; the rest is cut (the full name stays in report.json). Comments and tables stay
# readable, and a 10 kB name costs nothing.
MAX_SHOWN = 120
ELLIPSIS = "..."


class UnsafeOutputError(TypeError):
    """A template (or format string) tried to print a model-supplied string without a sanitizer."""


class ModelString:
    """A string from the model file, printable only through a sanitizer of `mcuq.codegen.names`.

    Deliberately not a `str` subclass: str methods and concatenation would hand back a plain, printable
    str. Compares and hashes as its text, so templates can still test it."""

    __slots__ = ("untrusted_text",)

    def __init__(self, raw: str | ModelString):
        self.untrusted_text = raw.untrusted_text if isinstance(raw, ModelString) else str(raw)

    def _refuse(self, *_args):
        raise UnsafeOutputError(
            f"model-supplied string {self.untrusted_text[:40]!r} printed without a sanitizer: pass it through "
            "c_comment, c_string, md_text, md_code or xml_text (mcuq.codegen.names)"
        )

    __str__ = __format__ = __html__ = __add__ = __radd__ = __mod__ = __rmod__ = __iter__ = _refuse

    def __repr__(self) -> str:
        return f"ModelString({self.untrusted_text!r})"

    def __eq__(self, other) -> bool:
        return self.untrusted_text == (other.untrusted_text if isinstance(other, ModelString) else other)

    def __hash__(self) -> int:
        return hash(self.untrusted_text)

    def __bool__(self) -> bool:
        return bool(self.untrusted_text)

    def __len__(self) -> int:
        return len(self.untrusted_text)


def untrusted(value):
    """``value`` with every str inside it (dict values, list and tuple items) wrapped in `ModelString`;
    dict keys stay str. For data whose strings may carry model names anywhere (the report)."""
    if isinstance(value, str):
        return ModelString(value)
    if isinstance(value, dict):
        return {k: untrusted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(untrusted(v) for v in value)
    return value


def _text(value) -> str:
    return value.untrusted_text if isinstance(value, ModelString) else str(value)


def _shortened(text: str, limit: int = MAX_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def _until_stable(text: str, rules: tuple[tuple[str, str], ...]) -> str:
    """Apply the replacements again until none matches: replacing one `*/` must not create another."""
    while True:
        before = text
        for old, new in rules:
            text = text.replace(old, new)
        if text == before:
            return text


# Inside a comment: nothing may end it (*/), nest-warn (/*), splice lines (backslash before any line
# break) or become one (??/ is a backslash under -trigraphs and -std=c99).
_COMMENT_RULES = (("*/", "* /"), ("/*", "/ *"), ("??", "?_"))


def c_comment(value) -> str:
    """Text safe inside a /* */ comment: printable ASCII only (anything else, backslash and every kind
    of line break included, becomes '?'), and no */, /* or ??."""
    text = "".join(ch if " " <= ch <= "~" and ch != "\\" else "?" for ch in _text(value))
    return _until_stable(_shortened(text), _COMMENT_RULES)


# Bytes a C string literal may hold as they are: printable ASCII but the quote, the backslash and the
# question mark (trigraphs).
_PLAIN_STRING_BYTES = frozenset(range(0x20, 0x7F)) - {ord('"'), ord("\\"), ord("?")}


def c_string(value) -> str:
    """A complete C string literal (with its quotes) holding the UTF-8 bytes of ``value``, shortened;
    every byte that is not plain printable ASCII is a three-digit octal escape, so no following
    character can extend it."""
    data = _shortened(_text(value)).encode("utf-8", "backslashreplace")
    return '"' + "".join(chr(b) if b in _PLAIN_STRING_BYTES else f"\\{b:03o}" for b in data) + '"'


def _is_control(ch: str) -> bool:
    """C0 and C1 controls (line breaks, the terminal's escape), Unicode line and paragraph separators, and
    the invisible characters that reorder or hide what follows (bidi overrides and isolates)."""
    code = ord(ch)
    return (code < 0x20 or 0x7F <= code < 0xA0 or ch in "\u2028\u2029\u200b\u200e\u200f"
            or 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069)


def _one_line(text: str) -> str:
    """Every control character as U+FFFD: no line break, no terminal escape, nothing invisible."""
    return "".join("\ufffd" if _is_control(ch) else ch for ch in text)


def terminal_text(text: str) -> str:
    """What the command line prints (messages quote model names): line breaks and tabs kept, every other
    control character as U+FFFD, so that a name cannot move the cursor, clear the screen or hide text."""
    return "".join("\ufffd" if _is_control(ch) and ch not in "\n\t" else ch for ch in text)


def console_name(value) -> str:
    """A model name inside one line the command line prints: shortened, every control character
    (line breaks too) as U+FFFD, so that a name cannot forge a line of output."""
    return _one_line(_shortened(_text(value)))


# Characters that can start Markdown or HTML markup inside a line (emphasis, code, links and images,
# table cells, raw HTML, entities, headings, strikethrough, math); each is backslash-escaped, which
# CommonMark allows for any ASCII punctuation. Link and image syntax needs '[', so '(' '!' stay plain, and
# the list and numbering marks ('-', '+', '.') only count at the start of a line, where no name stands.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|#~$])")


def md_text(value) -> str:
    """Markdown (and HTML) text that renders as the characters it holds, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", _one_line(_shortened(_text(value))))


def md_code(value, suffix: str = "") -> str:
    """A Markdown code span holding ``value`` (and our own ``suffix``) on one line. A fence longer than
    any run of backticks inside keeps it closed; `|` is escaped so that a table cell cannot end in it
    (GFM). HTML is not interpreted inside a code span."""
    text = _one_line(_shortened(_text(value)) + suffix).replace("|", "\\|")
    if not text:
        return "``"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def xml_text(value) -> str:
    """XML character data or attribute text: escaped, characters XML forbids (controls) replaced."""
    return _xml_escape(_one_line(_shortened(_text(value))), {'"': "&quot;"})


C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int "
    "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
    "volatile while _Bool _Complex _Imaginary".split()
)


def c_identifier(name) -> str:
    """A valid, lower-case C identifier for a name (model name, symbol prefix, file stem): ASCII letters,
    digits and underscores only, never a C keyword, never starting with a digit."""
    ident = re.sub(r"[^0-9a-zA-Z_]", "_", _text(name)).strip("_").lower() or "model"
    if ident[0].isdigit():
        ident = "m_" + ident
    if ident in C_KEYWORDS or keyword.iskeyword(ident):
        ident += "_"
    return ident


SANITIZERS = dict(c_comment=c_comment, c_string=c_string, md_text=md_text, md_code=md_code, xml_text=xml_text)
