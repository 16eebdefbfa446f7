"""docs/internals.md shows the generated kernels of one shipped rule file exactly."""

from __future__ import annotations

import os
import re
from pathlib import Path

import tosengine
from tosengine.compiler.codegen import generate
from tosengine.compiler.plan import build_plan

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "internals.md"
BLOCK = re.compile(r"(## Generated source of one shipped rule file.*?^```python\n)(.*?)(^```)", re.M | re.S)


def test_internals_doc_shows_the_generated_source() -> None:
    program = tosengine.compile(ROOT / "rules" / "sanctioned_regions.tos").program
    source = generate(build_plan(program))
    text = DOC.read_text()
    m = BLOCK.search(text)
    assert m is not None
    if os.environ.get("TOSENGINE_UPDATE_GOLDEN"):
        DOC.write_text(text[: m.start(2)] + source + text[m.end(2):])
        return
    assert m.group(2) == source, "regenerate with TOSENGINE_UPDATE_GOLDEN=1"
