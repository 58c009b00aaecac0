"""Regenerate eval.txt: English prose from CPython's own documentation (pydoc_data.topics).

The topics are sorted by name and joined; the first 12,000 characters are kept (about 2,800
SmolLM2 tokens: enough for the 512-token fidelity window and the prompt). Run with the
Python whose docs you want; the committed file came from CPython 3.11.
"""

from pathlib import Path

import pydoc_data.topics as topics

text = "\n\n".join(topics.topics[name].strip() for name in sorted(topics.topics))
Path(__file__).with_name("eval.txt").write_text(text[:12_000].rstrip() + "\n", encoding="utf-8")
