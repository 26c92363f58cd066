"""docs/gateway.md lists every reject code the pipeline can answer, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from apps.gateway.checks import REJECT_CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"


def test_the_docs_list_every_reject_code():
    text = DOC.read_text()
    section = text.split("## Reject codes", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))
    assert documented == set(REJECT_CODES)
