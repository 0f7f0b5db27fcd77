"""``python -m ecs_xrole.testing serve``: see :mod:`ecs_xrole.testing._serve`."""

from __future__ import annotations

import sys

from ._serve import main

if __name__ == "__main__":
    sys.exit(main())
