"""The project file: its schema (pydantic), where each key is (file:line:col), loading, distributions."""

from hone.config.load import load_config
from hone.config.schema import ProjectConfig

__all__ = ["ProjectConfig", "load_config"]
