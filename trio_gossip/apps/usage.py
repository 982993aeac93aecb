"""The one error a subcommand raises for a bad argument found after parsing (exit status 2)."""


class UsageError(Exception):
    """A bad argument found by a subcommand after parsing; reported with exit status 2."""
