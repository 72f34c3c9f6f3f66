"""User-facing errors: one clear line naming the problem and the fix."""


class UserError(Exception):
    """A problem with the user's input (files, flags, shapes), not a bug.

    CLIs print ``str(error)`` as one line and exit with status 2; no traceback
    unless ``--verbosity`` asks for it.
    """


def require(condition: bool, message: str) -> None:
    """Raise :class:`UserError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise UserError(message)
