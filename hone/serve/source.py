"""The model being served, and switching it to a new champion while requests keep coming.

A request reads ``ModelSource.current`` once and uses that model to the end, so a switch (one reference
assignment, after the new version is loaded, compiled and smoke-tested off the event loop) never fails or
mixes a request. A version that cannot be loaded leaves the old one serving.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hone.data.schema import FeatureSchema
from hone.errors import HoneError, StoreError
from hone.launch.predictor import Predictor, compile_predictor
from hone.store.registry import CHAMPION

if TYPE_CHECKING:
    from hone.store.registry import ModelVersion, Registry

logger = logging.getLogger("hone.serve")

# Rows of the reference profile's examples predicted before a version is switched in.
SMOKE_ROWS = 5


@dataclass(frozen=True)
class ServedModel:
    """One loaded version, ready to predict."""

    version: ModelVersion
    predictor: Predictor

    @property
    def name(self) -> str:
        return self.version.name

    @property
    def number(self) -> int:
        return self.version.version

    @property
    def schema(self) -> FeatureSchema:
        return self.version.schema

    @property
    def task(self) -> str:
        return self.version.task


@dataclass(frozen=True)
class Reload:
    """What a reload did: the version served before and after."""

    previous: int | None
    current: int | None

    @property
    def switched(self) -> bool:
        return self.previous != self.current


class ModelSource:
    """Holds the served version of ``name`` and follows its champion alias."""

    def __init__(self, registry: Registry, name: str, alias: str = CHAMPION) -> None:
        self.registry = registry
        self.name = name
        self.alias = alias
        self.current: ServedModel | None = None
        self.switches = 0
        self.failed_loads = 0
        self.failed: tuple[int, str] | None = None  # the last version that would not load, and why
        self._lock = threading.Lock()  # the poller and /admin/reload must not load the same version twice

    def load(self, number: int) -> ServedModel:
        """Load, compile and smoke-test one version (blocking: call it off the event loop)."""
        version = self.registry.get(self.name, number)
        examples = version.profile.get("examples") if isinstance(version.profile, dict) else None
        predictor = compile_predictor(self.registry.load(version), version.schema, examples=examples or ())
        if examples:
            # Fails here, not on the first request, if this environment cannot run the model.
            predictor.predict_rows(version.schema.check_records(examples[:SMOKE_ROWS]))
        if not predictor.compiled:
            logger.info("%s v%d predicts with the plain pipeline: %s", self.name, number, predictor.reason)
        return ServedModel(version, predictor)

    def start(self) -> ServedModel:
        """Load the champion; StoreError when there is none yet or it cannot be loaded."""
        number = self.registry.aliases(self.name).get(self.alias)  # StoreError naming the models if unknown
        if number is None:
            raise StoreError(
                f"model {self.name!r} has no {self.alias} yet: promote a version first"
                f" (hone promote {self.name} VERSION)"
            )
        with self._lock:
            self.current = self._load_or_explain(number)
        return self.current

    def refresh(self, *, force: bool = False) -> Reload:
        """Switch to the alias's version if it moved; a version that failed before is retried only if forced.

        Raises StoreError (after logging it) when the new version cannot be loaded; the old one keeps serving.
        """
        with self._lock:
            before = self.current.number if self.current is not None else None
            wanted = self.registry.alias_version(self.name, self.alias)
            if wanted is None or wanted == before:
                return Reload(before, before)
            if not force and self.failed is not None and self.failed[0] == wanted:
                return Reload(before, before)
            served = self._load_or_explain(wanted)
            self.current = served  # the switch: in-flight requests keep the model they already hold
            self.switches += 1
            self.failed = None
            logger.warning("%s: now serving version %d (was %s)", self.name, wanted, before)
            return Reload(before, wanted)

    def _load_or_explain(self, number: int) -> ServedModel:
        try:
            return self.load(number)
        except Exception as error:  # any failure to load (a tampered artifact, a missing class) keeps the old
            self.failed_loads += 1
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.failed = (number, reason)
            serving = f"still serving version {self.current.number}" if self.current else "no model loaded"
            message = f"version {number} of {self.name!r} could not be loaded ({reason}); {serving}"
            logger.error("%s", message)
            raise StoreError(message) from error


async def follow_alias(source: ModelSource, every: float) -> None:
    """Poll the alias every ``every`` seconds and switch in a thread; runs until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(source.refresh)
        except HoneError:
            pass  # logged by refresh; the old model keeps serving
        except Exception:
            logger.exception("%s: checking the %s alias failed", source.name, source.alias)
