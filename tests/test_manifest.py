"""The Home Assistant versions we declare are the ones we test.

HACS refuses to install on a Home Assistant older than hacs.json's ``homeassistant``; the
manifest says the same for anyone reading it. The suite runs on the pinned Home Assistant
(requirements_lock.txt), which must be that minimum: a minimum we never ran would be a guess.
"""

from __future__ import annotations

import json
from pathlib import Path
import re

from awesomeversion import AwesomeVersion
from homeassistant import const as ha_const

REPO = Path(__file__).resolve().parents[1]


def declared() -> tuple[str, str]:
    manifest = json.loads((REPO / "custom_components/iot_zinx/manifest.json").read_text())
    hacs = json.loads((REPO / "hacs.json").read_text())
    return manifest["homeassistant"], hacs["homeassistant"]


def test_manifest_and_hacs_declare_one_minimum() -> None:
    manifest_minimum, hacs_minimum = declared()
    assert manifest_minimum == hacs_minimum


def test_the_minimum_is_what_the_suite_runs_on() -> None:
    minimum, _ = declared()
    lock = (REPO / "requirements_lock.txt").read_text()
    pinned = re.search(r"^homeassistant==(\S+)$", lock, re.MULTILINE)
    assert pinned is not None
    assert pinned[1] == minimum
    assert AwesomeVersion(ha_const.__version__) == AwesomeVersion(minimum)
