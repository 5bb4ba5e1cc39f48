"""Command-line subcommands of the core package (train, eval, demo)."""
