"""The headless Chromium the browser tests drive (Debian's; HONE_TEST_CHROMIUM names another)."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("HONE_TEST_CHROMIUM", "/usr/bin/chromium"))
