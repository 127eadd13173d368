"""The library versions a search depends on: which scikit-learn the sharing families were tested on, and
the versions that go into study fingerprints (an upgrade starts new studies instead of mixing fits)."""

from __future__ import annotations

import importlib.metadata
import re
import warnings

import sklearn

# The scikit-learn releases the exactness tests (shared fits == sklearn's own) pass on: pyproject's range.
TESTED_SKLEARN = ((1, 9, 1), (1, 10))


def release(version: str) -> tuple[int, ...]:
    """``"1.9.1"`` -> ``(1, 9, 1)``; a pre-release tail is ignored (``"1.10.dev0"`` -> ``(1, 10)``)."""
    match = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _dotted(parts: tuple[int, ...]) -> str:
    return ".".join(map(str, parts))

_warned: set[str] = set()


def sklearn_is_tested(version: str | None = None) -> bool:
    low, high = TESTED_SKLEARN
    return low <= release(version or sklearn.__version__) < high


def sharing_allowed(version: str | None = None) -> bool:
    """Shared fits reproduce scikit-learn's internals: off (with one warning) on an untested release."""
    version = version or sklearn.__version__
    if sklearn_is_tested(version):
        return True
    if version not in _warned:
        _warned.add(version)
        low, high = TESTED_SKLEARN
        warnings.warn(
            f"scikit-learn {version} is outside the range hone's shared fits were tested on "
            f"(>={_dotted(low)},<{_dotted(high)}): every candidate is fitted on its own "
            "(same results, slower)",
            RuntimeWarning,
            stacklevel=2,
        )
    return False


def library_versions() -> dict[str, str]:
    """The versions a study's fits depend on, for its fingerprint."""
    return {"scikit-learn": sklearn.__version__, "hone": _hone_version()}


def _hone_version() -> str:
    # The installed distribution's version (read here, not from the package: hone imports this module).
    try:
        return importlib.metadata.version("hone")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
