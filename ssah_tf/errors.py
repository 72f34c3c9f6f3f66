"""User-facing errors: one clear line naming the problem and the fix.

Library code names configuration fields in backticks, `lr_img` or `val_size=5000`:
a Python caller reads them as the field names it passes; the command-line tools
print them as their flags, --lr_img and --val_size=5000 (:func:`as_flags`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container

_FIELD = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)((?:=[^`]*)?)`")


class UserError(Exception):
    """A problem with the user's input (files, settings, shapes), not a bug.

    CLIs print ``str(error)`` as one line (fields as flags) and exit with status 2;
    no traceback unless ``--verbosity`` asks for it.
    """


def as_flags(message: str, flags: Container[str] | Callable[[str], bool]) -> str:
    """``message`` with every backticked field that is a flag (in ``flags``) written
    as that flag (`lr_img` -> --lr_img, `val_size=0` -> --val_size=0); other
    backticked names lose their backticks."""
    is_flag = flags if callable(flags) else flags.__contains__

    def replace(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        return f"--{name}{value}" if is_flag(name) else f"{name}{value}"

    return _FIELD.sub(replace, message)
