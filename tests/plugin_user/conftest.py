"""The outside user's project below is run by its own pytest in a subprocess, never collected here."""

collect_ignore = ["project"]
