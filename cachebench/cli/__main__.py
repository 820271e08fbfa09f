"""``python -m cachebench.cli``: the same as the ``cachebench`` command."""

from cachebench.cli.main import main

raise SystemExit(main())
