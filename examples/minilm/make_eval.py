"""Rebuild sentences.txt: 600 real English sentences from CPython's pydoc_data/topics.py.

The documentation topics ship with every CPython (no download). Sentences are split on
sentence-ending punctuation, kept when they have 8 to 40 words and look like prose (no code
symbols), de-duplicated, and taken in the order of the sorted topic names. Run with the
Python whose pydoc_data you want: ``python examples/minilm/make_eval.py``.
"""

import re
from pathlib import Path

from pydoc_data.topics import topics

CODE = re.compile(r"[{}\[\]<>=|_*`\\#@$^~]|\.\.\.|::|\(\)")


def sentences(limit: int = 600) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for name in sorted(topics):
        text = re.sub(r"\s+", " ", topics[name])
        for sent in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
            sent = sent.strip()
            words = sent.split()
            if not 8 <= len(words) <= 40 or CODE.search(sent) or not sent.endswith("."):
                continue
            if sum(c.isalpha() for c in sent) < 0.75 * len(sent) or sent in seen:
                continue
            seen.add(sent)
            out.append(sent)
            if len(out) == limit:
                return out
    return out


if __name__ == "__main__":
    lines = sentences()
    (Path(__file__).parent / "sentences.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} sentences")
