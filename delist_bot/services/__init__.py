"""What the CLI commands call: one library call per command.

The worker itself is runtime/; a service shares its wiring (runtime/wiring.py) and its rules."""
