"""Help texts for a terminal: the commands' reST docstrings as plain text, paragraphs kept."""

from __future__ import annotations

import argparse
import re
import textwrap

__all__ = ["PlainHelpFormatter", "plain"]

_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)


def plain(text: str) -> str:
    """``text`` without reST markup: ``x`` becomes x, :class:`a.B` becomes a.B (~a.B: B)."""

    def role(match: re.Match[str]) -> str:
        tilde, target = match.groups()
        return target.rpartition(".")[2] if tilde else target

    return _LITERAL.sub(r"\1", _ROLE.sub(role, text))


class PlainHelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, but a description keeps its paragraphs (each one re-wrapped)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = re.split(r"\n\s*\n", textwrap.dedent(text).strip())
        return "\n\n".join(
            textwrap.fill(
                " ".join(paragraph.split()),
                width,
                initial_indent=indent,
                subsequent_indent=indent,
            )
            for paragraph in paragraphs
        )
