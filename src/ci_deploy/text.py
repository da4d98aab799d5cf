"""Text that came from somewhere else, made safe to print: data, never commands or markup.

Strings from the cluster (pod and event messages, API error messages, the state record) and
from the workspace reach log lines, annotations, job outputs and the job summary. A newline in
them would start a line the CI runner obeys (``::set-output …``, ``::add-mask::``,
``::stop-commands::`` on GitHub; ``section_end`` escape sequences on GitLab), and Markdown in
them would render in the summary. :func:`one_line` makes any string a single inert line;
:func:`markdown_code` makes it a Markdown code span that nothing inside can end (so no
heading, link, autolink, image or HTML in it renders).
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PICTURES = {0x7F: "\u2421"}  # DEL → ␡; C0 → U+2400 + code (␊, ␍, ␛ …)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    if code in _PICTURES:
        return _PICTURES[code]
    return f"\\u{code:04x}"


def one_line(text: str) -> str:
    """``text`` as one line with no control characters: newlines show as ␊, ESC as ␛, …

    A line that would start with ``::`` (a GitHub workflow command) starts with ``∷`` instead.
    """
    line = _CONTROL.sub(_picture, text)
    stripped = line.lstrip()
    if stripped.startswith("::"):
        line = line[: len(line) - len(stripped)] + "\u2237" + stripped[2:]
    return line


def markdown_code(text: str) -> str:
    """``text`` as an inert Markdown code span for a table cell (no backtick or | can end it)."""
    return "`" + one_line(text).replace("`", "'").replace("|", "\\|") + "`"
