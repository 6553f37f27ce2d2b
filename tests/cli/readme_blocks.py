"""The README's shell code blocks (```sh), as the commands a reader would type: comments cut,
`\\` continuations joined. Shared by the README tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
README = ROOT / "README.md"

_FENCE = re.compile(r"^```(?:sh|bash|console|shell)\n(.*?)^```", re.S | re.M)
_COMMENT = re.compile(r"\s+#\s.*$|^\s*#.*$")


def shell_blocks(text: str | None = None) -> list[list[str]]:
    """Each shell block's commands, in README order."""
    blocks = []
    for body in _FENCE.findall(README.read_text(encoding="utf-8") if text is None else text):
        commands: list[str] = []
        pending = ""
        for line in body.splitlines():
            code = _COMMENT.sub("", line).strip()
            if pending:
                code = f"{pending} {code}"
            if code.endswith("\\"):
                pending = code[:-1].rstrip()
                continue
            pending = ""
            if code:
                commands.append(code)
        assert not pending, f"README block ends in a continuation: {body!r}"
        blocks.append(commands)
    return blocks


def shell_commands() -> list[str]:
    return [command for block in shell_blocks() for command in block]
