"""The one rule for names that become parts of paths and URLs (project, model name, alias).

Letters, digits, '_', '.' and '-', and not made of dots only: "." and ".." would name the folder itself
or its parent, so `project: ".."` could write a model file outside the artifacts folder.
"""

from __future__ import annotations

import re

from hone.errors import StoreError

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
NAME_RULE = "use only letters, digits, '_', '.' and '-' (not dots alone)"


def is_safe_name(value: object) -> bool:
    """True for a name that is one plain path part: it cannot climb out of, or stay in, its folder."""
    return isinstance(value, str) and bool(_NAME_RE.fullmatch(value)) and value.strip(".") != ""


def safe_name(value: object, what: str) -> str:
    """``value`` if it is safe as one path part, else a StoreError naming ``what`` it was meant to be."""
    if not is_safe_name(value):
        raise StoreError(f"{value!r} is not a valid {what}: {NAME_RULE}")
    return str(value)
