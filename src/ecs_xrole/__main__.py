"""``python -m ecs_xrole``: the command-line tool."""

from .cli import main

raise SystemExit(main())
