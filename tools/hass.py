"""Run Home Assistant from the project's environment; arguments go to `hass`.

    scripts/hass -c CONFIG_DIR

Home Assistant refuses to start on a Python a patch release older than the one it asks for
(Debian's python3.14, which scripts/setup falls back to, can be one behind), while the pinned
pytest-homeassistant-custom-component runs it on that Python without trouble, so this
launcher skips that one check and changes nothing else. It runs on the environment's Python:
scripts/hass starts it through scripts/python (scripts/develop with the environment's Python
directly). A restart asked for in Home Assistant (exit code 100) starts it again.
"""

from __future__ import annotations

import os
import sys

from homeassistant import __main__ as hass_main
from homeassistant.const import RESTART_EXIT_CODE


def main() -> int:
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
