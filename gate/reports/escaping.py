"""Escaping per output sink, for text a pull request's author can write (manifest and policy
text, waiver reasons, file names, error messages that quote them).

Each sink has its own dangerous characters:

* a CI log: the runner executes any line that starts with ``::`` as a workflow command
  (``::add-mask::``, ``::stop-commands::``, ``::error file=...::``;
  https://docs.github.com/en/actions/using-workflows/workflow-commands-for-github-actions),
  so user text never carries a line break or other control character into it
  (:func:`one_line`);
* a rich console: ``[...]`` is markup, and a stray closing tag raises ``MarkupError``
  (:func:`terminal`);
* XML 1.0 forbids most C0 control characters even as references
  (https://www.w3.org/TR/xml/#charsets), so a JUnit file carrying one is unparseable
  (:func:`xml_text`);
* markdown and workflow-command values have their escapers in
  :mod:`gate.reports.markdown` and :mod:`gate.reports.annotations`.
"""

from __future__ import annotations

import re
import unicodedata

_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _visible(ch: str) -> str:
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\u{ord(ch):04x}")


def one_line(text: object) -> str:
    """``text`` on one line: every control or format character (Unicode category C: line
    breaks, tabs, escape sequences, zero-width and bidi controls) shown as ``\\n``, ``\\u001b``.

    >>> one_line("ok\\n::add-mask::x")
    'ok\\\\n::add-mask::x'
    """
    return "".join(_visible(ch) if unicodedata.category(ch)[0] == "C" else ch for ch in str(text))


def terminal(text: object) -> str:
    """``text`` for a rich console line: on one line (:func:`one_line`) with markup escaped."""
    from rich.markup import escape

    return escape(one_line(text))


def xml_text(text: object) -> str:
    """``text`` with the characters XML 1.0 cannot hold shown as ``\\u0001``; ElementTree
    escapes ``<``, ``&`` and quotes itself."""
    return _XML_ILLEGAL.sub(lambda m: _visible(m.group()), str(text))
