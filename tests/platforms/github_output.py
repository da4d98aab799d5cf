"""Read ``$GITHUB_OUTPUT`` the way the runner does: ``name=value`` lines and ``name<<DELIM`` blocks.

Imported by tests (:func:`read_github_output`), and run as a script by tests that play "the next
job" in a separate process (``python github_output.py FILE`` prints the outputs as JSON).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCRIPT = Path(__file__)


def read_github_output(path: Path) -> dict[str, str]:
    """The outputs in ``path``; the last value of a name wins, as on GitHub."""
    lines = path.read_text(encoding="utf-8").split("\n")
    result: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            result[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, value = line.split("=", 1)
            result[name] = value
            i += 1
    return result


if __name__ == "__main__":
    print(json.dumps(read_github_output(Path(sys.argv[1]))))
