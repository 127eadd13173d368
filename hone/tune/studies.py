"""Study names: one model's search on one project, split, preparation, data and library versions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hone.config.schema import ProjectConfig
from hone.search.versions import library_versions


def study_name(config: ProjectConfig, model_name: str, search: dict[str, Any], data_sha256: str) -> str:
    """The study of one model's search: the same project, model, search, split, preparation, data and
    libraries resume it; any change starts a new one (an upgrade never mixes fits)."""
    described = json.dumps(
        {
            **search,
            "split": config.split.model_dump(mode="json"),
            "prepare": config.prepare.model_dump(mode="json"),
            "data": data_sha256,
            "libraries": library_versions(),
        },
        sort_keys=True,
        default=str,
    )
    return f"{config.project}.{model_name}.{hashlib.sha256(described.encode()).hexdigest()[:10]}"
