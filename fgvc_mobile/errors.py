"""One exception type for user-facing errors: the CLI prints its message as one line."""


class FGVCError(Exception):
    """A problem with the user's input (file, option, data) that deserves a one-line message."""
