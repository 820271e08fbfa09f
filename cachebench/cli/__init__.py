"""The ``cachebench`` command line: one module per group of subcommands."""
