#!/usr/bin/env python3
"""Run Home Assistant from the project's environment; arguments go to `hass`.

    scripts/hass -c CONFIG_DIR

Home Assistant refuses to start on a Python a patch release older than the one it asks for
(Debian's python3.14, which scripts/setup falls back to, can be one behind), while the pinned
pytest-homeassistant-custom-component runs it on that Python without trouble, so this
launcher skips that one check and changes nothing else. Started with any Python, it
re-executes itself through scripts/python. A restart asked for in Home Assistant (exit code
100) starts it again.
"""

from __future__ import annotations

import os
from pathlib import Path
import sys

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    if sys.prefix == sys.base_prefix:  # in no environment: enter the project's
        python = REPO / "scripts" / "python"
        os.execv(python, [str(python), __file__, *sys.argv[1:]])

    from homeassistant import __main__ as hass_main  # noqa: PLC0415
    from homeassistant.const import RESTART_EXIT_CODE  # noqa: PLC0415

    hass_main.validate_python = lambda: None
    arguments = sys.argv[1:]
    sys.argv[0] = "hass"
    exit_code = hass_main.main()
    if exit_code == RESTART_EXIT_CODE:
        # Settings -> Restart (or homeassistant.restart) exits with this code and leaves the
        # restart to whoever started Home Assistant (a container, the Supervisor): here it is
        # us. Same process id, so scripts/develop keeps track of it.
        os.execv(sys.executable, [sys.executable, __file__, *arguments])
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
