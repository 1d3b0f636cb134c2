"""Sources: one sub-package per kind of Runtime API data (its commands, pure parser, naming table, model)."""
