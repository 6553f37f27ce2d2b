"""hush's command line: `hush <group> <command>`, one click group per area (envelope, bench, …)."""

from hush.cli.main import main

__all__ = ["main"]
