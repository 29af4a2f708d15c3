"""The vendor's example frames, decoded: a copy of ``../shared/protocol/vectors.json``.

The copy under ``tests/fixtures`` lets the suite run anywhere; ``test_fixture_matches_shared``
keeps it identical to the shared original whenever that is present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parents[1] / "fixtures" / "vectors.json"
SHARED = Path(__file__).parents[3] / "shared" / "protocol" / "vectors.json"

VECTORS: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))
