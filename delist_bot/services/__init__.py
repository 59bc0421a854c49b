"""What the CLI commands and the worker call: one library call per command."""
