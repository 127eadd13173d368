"""The project file ``hone.yaml``: its schema, and loading it with errors that say where.

``load_config`` reads the YAML, validates it with the pydantic models below and returns a
:class:`ProjectConfig`. Any problem is a :class:`~hone.errors.ConfigError` whose ``where`` is
``file:line:column`` of the offending key or value and whose message starts with the key path
(``models[1].estimator: ...``). The YAML node marks are kept on the loaded config so that later
steps (``hone.tune.resolve``) can point at a key too, through ``ProjectConfig.where`` and
``ModelSpec.where``.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hone.config.distributions import distribution_problem
from hone.config.locate import ConfigProblem, KeyPath, Locator, did_you_mean, pydantic_message
from hone.errors import ConfigError
from hone.store.names import NAME_RULE, is_safe_name

__all__ = [
    "DEFAULT_STORE",
    "DataSpec",
    "ModelSpec",
    "PrepareSettings",
    "AlertChannel",
    "AlertSettings",
    "DriftRules",
    "LearnSettings",
    "MonitorSettings",
    "PerformanceRule",
    "ProjectConfig",
    "QualityRules",
    "RetrainSettings",
    "WindowSettings",
    "parse_duration",
    "RegistrySettings",
    "ServeSettings",
    "SearchOverride",
    "SearchSettings",
    "SplitSettings",
    "parse_derived",
]

DEFAULT_STORE = ".hone/hone.db"


# --- locating keys in the YAML ---------------------------------------------------------------


# --- reusable field types -------------------------------------------------------------------

_DOTTED_RE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def _check_name(value: str) -> str:
    # Names become folder names and URL parts: the one rule is hone.store.names'.
    if not is_safe_name(value):
        raise ConfigProblem(f"{value!r} is not a valid name: {NAME_RULE}")
    return value


def _check_dotted(value: str) -> str:
    if not _DOTTED_RE.fullmatch(value):
        raise ConfigProblem(f"{value!r} is not an import path like sklearn.ensemble.RandomForestRegressor")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
DottedPath = Annotated[str, AfterValidator(_check_dotted)]
DottedOrName = Annotated[str, Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")]  # a package or module
Column = Annotated[str, Field(min_length=1)]


@functools.lru_cache(maxsize=1)
def _scorer_names() -> frozenset[str]:
    # Imported late: sklearn is slow to import and only scorer names are needed from it here.
    from sklearn.metrics import get_scorer_names

    return frozenset(get_scorer_names())


def _check_scoring(value: Any) -> Any:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigProblem("should be a scorer name or a non-empty list of scorer names")
    known = _scorer_names()
    seen: set[str] = set()
    for i, name in enumerate(names):
        at: KeyPath = () if isinstance(value, str) else (i,)
        if name not in known:
            hint = did_you_mean(name, known) or "; see sklearn.metrics.get_scorer_names()"
            raise ConfigProblem(f"unknown scorer {name!r}{hint}", at)
        if name in seen:
            raise ConfigProblem(f"scorer {name!r} is listed twice", at)
        seen.add(name)
    return value


def _check_refit(value: Any) -> Any:
    if not isinstance(value, (bool, str)):
        raise ConfigProblem(f"should be true, false or the name of a scoring metric (got {value!r})")
    return value


Strategy = Literal["grid", "random", "halving", "tpe"]
Folds = Annotated[int, Field(ge=2)]
Scoring = Annotated[str | list[str] | None, BeforeValidator(_check_scoring)]
Refit = Annotated[bool | str, BeforeValidator(_check_refit)]
Positive = Annotated[int, Field(ge=1)]
Factor = Annotated[int | float, Field(gt=1)]
Resources = Positive | Literal["exhaust", "smallest"]  # halving's first resource: a number or a rule

# Settings only successive halving reads: left out of other strategies' study names, which stay as they were.
HALVING_SETTINGS = ("factor", "resource", "min_resources", "max_resources", "n_candidates")


class _Schema(BaseModel):
    # A misspelt key must be an error, never silently ignored.
    model_config = ConfigDict(extra="forbid")


# --- sections --------------------------------------------------------------------------------

_DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")  # what hone.data's reader handles
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _base_dir(info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    return Path(base) if base is not None else Path.cwd()


def _expand_env(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigProblem(f"environment variable {name} is not set (used as ${{{name}}})")
        return os.environ[name]

    return _ENV_RE.sub(replace, text)


def _no_duplicates(columns: list[str] | None) -> list[str] | None:
    seen: set[str] = set()
    for i, column in enumerate(columns or []):
        if column in seen:
            raise ConfigProblem(f"column {column!r} is listed twice", (i,))
        seen.add(column)
    return columns


def _one_or_many(value: Any) -> Any:
    # `id: patient_id` reads as well as `id: [patient_id, visit]`.
    return [value] if isinstance(value, str) else value


class DataSpec(_Schema):
    """Where the data comes from: a built-in data set or a file, and the column to predict."""

    dataset: Name | None = None
    path: Path | None = None  # absolute after loading: resolved against the config's directory
    target: Column
    # Columns that are not features: ``id`` travels with every row (echoed by serving, written by batch
    # prediction), ``drop`` is ignored. A single name is accepted for either.
    id: Annotated[list[Column], BeforeValidator(_one_or_many), AfterValidator(_no_duplicates)] = Field(
        default_factory=list
    )
    drop: Annotated[list[Column], BeforeValidator(_one_or_many), AfterValidator(_no_duplicates)] = Field(
        default_factory=list
    )

    @property
    def not_features(self) -> list[str]:
        """The id and dropped columns: read with the table, never given to the model."""
        return [*self.id, *self.drop]

    @model_validator(mode="after")
    def _roles_disjoint(self) -> DataSpec:
        for key in ("id", "drop"):
            for i, column in enumerate(getattr(self, key)):
                if column == self.target:
                    raise ConfigProblem(f"{column!r} is the target, not an {key} column", (key, i))
        for i, column in enumerate(self.drop):
            if column in self.id:
                raise ConfigProblem(f"column {column!r} is both an id and dropped", ("drop", i))
        return self

    @field_validator("path", mode="before")
    @classmethod
    def _resolve_path(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ConfigProblem("should be the path of a CSV or Parquet file")
        path = Path(_expand_env(value)).expanduser()
        if not path.name.lower().endswith(_DATA_SUFFIXES):
            raise ConfigProblem(f"{value!r} should be a CSV (.csv, .csv.gz) or Parquet (.parquet, .pq) file")
        return Path(os.path.normpath(_base_dir(info) / path))

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if self.dataset is not None and self.path is not None:
            raise ConfigProblem("give either dataset or path, not both", ("path",))
        if self.dataset is None and self.path is None:
            raise ConfigProblem("needs either dataset (a built-in data set) or path (a CSV or Parquet file)")
        return self


class SplitSettings(_Schema):
    """The held-out test set: drawn once with ``seed`` so it stays the same between runs."""

    # The last bin edge is usually .inf: keep it as Infinity in JSON rather than pydantic's null.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.2
    stratify: Column | None = None
    bins: list[float] | None = None  # edges cutting a numeric stratify column into categories
    seed: int = 42  # fixed by default: a test set that moved between runs would leak into tuning

    @field_validator("bins")
    @classmethod
    def _increasing(cls, bins: list[float] | None) -> list[float] | None:
        if bins is None:
            return None
        if len(bins) < 2:
            raise ConfigProblem("bins need at least two edges")
        for i in range(1, len(bins)):
            if not bins[i - 1] < bins[i]:
                raise ConfigProblem(f"bins must be increasing, but {bins[i]:g} follows {bins[i - 1]:g}", (i,))
        return bins

    @model_validator(mode="after")
    def _bins_need_stratify(self) -> SplitSettings:
        if self.bins is not None and self.stratify is None:
            message = "bins cut the stratify column into categories: set split.stratify too"
            raise ConfigProblem(message, ("bins",))
        return self


_DERIVED_RE = re.compile(r"\s*([A-Za-z_]\w*)\s*([-+*/])\s*([A-Za-z_]\w*)\s*")


def parse_derived(expression: str) -> tuple[str, str, str]:
    """Split a derived-feature expression ``"a / b"`` into ``(left, operator, right)``.

    The operator is one of ``/ * + -``; operands are column names. Raises ValueError.
    """
    match = _DERIVED_RE.fullmatch(expression)
    if not match:
        raise ValueError(
            f"{expression!r} is not 'column op column' with op one of / * + - (e.g. total_rooms / households)"
        )
    left, op, right = match.groups()
    return left, op, right


class PrepareSettings(_Schema):
    """How the training features are prepared before (or inside) the search."""

    numeric: Annotated[list[Column] | None, AfterValidator(_no_duplicates)] = None  # None: all numeric
    categorical: Annotated[list[Column] | None, AfterValidator(_no_duplicates)] = None  # None: all others
    impute: Literal["median", "mean", "most_frequent", "none"] = "median"
    scale: Literal["standard", "minmax", "none"] = "standard"
    one_hot: bool = True
    derived: dict[Name, str] = Field(default_factory=dict)  # new column -> "a / b"; order is kept

    @field_validator("derived")
    @classmethod
    def _check_derived(cls, derived: dict[str, str]) -> dict[str, str]:
        for name, expression in derived.items():
            try:
                parse_derived(expression)
            except ValueError as exc:
                raise ConfigProblem(str(exc), (name,)) from None
        return derived

    @model_validator(mode="after")
    def _disjoint(self) -> PrepareSettings:
        numeric = set(self.numeric or ())
        for i, column in enumerate(self.categorical or ()):
            if column in numeric:
                raise ConfigProblem(f"column {column!r} is both numeric and categorical", ("categorical", i))
        return self


class SearchSettings(_Schema):
    """How each model is searched; ``search`` gives defaults, a model's ``search`` overrides them."""

    strategy: Strategy = "grid"
    cv: Folds = 5
    scoring: Scoring = None  # None: the estimator's own score method
    refit: Refit = True
    n_iter: Positive = 10  # random only
    n_trials: Positive = 20  # tpe only
    random_state: int | None = None
    n_jobs: int | None = None
    return_train_score: bool = False
    prepare_in_folds: bool = False  # true: preparation is fitted inside each fold (no leakage)
    max_rounds: Positive = 3  # budget of rounds for `hone tune --expand`
    factor: Factor = 3  # halving: keep the best 1/factor of the candidates at each iteration
    resource: str = "n_samples"  # halving: rows, or an estimator parameter such as n_estimators
    min_resources: Resources | None = None  # halving: None is scikit-learn's default
    max_resources: Positive | None = None  # halving: None is every row (resource n_samples only)
    n_candidates: Positive | Literal["exhaust"] = "exhaust"  # halving over distributions
    budget: Duration | None = None  # a time budget: search built-in spaces, refit included (hone.tune.budget)

    @model_validator(mode="after")
    def _refit_matches_scoring(self) -> SearchSettings:
        if isinstance(self.scoring, list):
            metrics = ", ".join(self.scoring)
            if self.refit is True:
                raise ConfigProblem(
                    f"with a list of scoring metrics, refit must name the one to refit on ({metrics}) "
                    "or be false",
                    ("refit",),
                )
            if isinstance(self.refit, str) and self.refit not in self.scoring:
                hint = did_you_mean(self.refit, self.scoring)
                raise ConfigProblem(
                    f"refit {self.refit!r} is not one of the scoring metrics ({metrics}){hint}", ("refit",)
                )
        elif isinstance(self.refit, str):
            raise ConfigProblem(
                "refit can name a metric only when scoring is a list; use true or false", ("refit",)
            )
        if self.strategy == "halving" and isinstance(self.scoring, list):
            message = "strategy halving ranks candidates by one metric: give one name"
            raise ConfigProblem(message, ("scoring",))
        if self.strategy == "halving" and self.resource != "n_samples" and self.max_resources is None:
            message = f"resource {self.resource!r} needs max_resources (its top value)"
            raise ConfigProblem(message, ("resource",))
        return self


class SearchOverride(_Schema):
    """A model's own ``search`` keys; unset keys come from the project's ``search``."""

    strategy: Strategy | None = None
    cv: Folds | None = None
    scoring: Scoring = None
    refit: Refit | None = None
    n_iter: Positive | None = None
    n_trials: Positive | None = None
    random_state: int | None = None
    n_jobs: int | None = None
    return_train_score: bool | None = None
    prepare_in_folds: bool | None = None
    max_rounds: Positive | None = None
    factor: Factor | None = None
    resource: str | None = None
    min_resources: Resources | None = None
    max_resources: Positive | None = None
    n_candidates: Positive | Literal["exhaust"] | None = None


def _as_list_of_mappings(value: Any) -> Any:
    # A single mapping is the common case; sklearn takes a list of them, so normalise to that.
    return [value] if isinstance(value, dict) else value


class ModelSpec(_Schema):
    """One model of the shortlist: an estimator class, fixed params, and the space to search."""

    name: Name
    estimator: DottedPath
    params: dict[str, Any] = Field(default_factory=dict)
    # Both are lists of mappings after loading (a single mapping in the file becomes a list of one).
    grid: Annotated[list[dict[str, list[Any]]] | None, BeforeValidator(_as_list_of_mappings)] = None
    distributions: list[dict[str, list[Any] | str]] | None = None
    search: SearchOverride | None = None
    space: Literal["default"] | None = None  # the built-in space (hone.search.builtin_spaces)

    _locator: Locator | None = PrivateAttr(default=None)

    @field_validator("grid")
    @classmethod
    def _grid_not_empty(cls, grid: list[dict[str, list[Any]]] | None) -> Any:
        if grid is None:
            return None
        if not grid:
            raise ConfigProblem("empty grid: give at least one parameter with a list of values")
        for i, space in enumerate(grid):
            if not space:
                raise ConfigProblem("empty grid: this mapping has no parameters", (i,))
            for key, values in space.items():
                if not values:
                    raise ConfigProblem(f"empty grid: {key} has no values to try", (i, key))
        return grid

    @field_validator("distributions", mode="before")
    @classmethod
    def _check_distributions(cls, spaces: Any) -> Any:
        spaces = _as_list_of_mappings(spaces)
        if not isinstance(spaces, list):
            return spaces  # pydantic reports the wrong type
        if not spaces:
            raise ConfigProblem("empty distributions: give at least one parameter")
        for i, space in enumerate(spaces):
            if not isinstance(space, dict):
                continue
            if not space:
                raise ConfigProblem("empty distributions: this mapping has no parameters", (i,))
            for key, value in space.items():
                if isinstance(value, str):
                    problem = distribution_problem(value)
                    if problem:
                        raise ConfigProblem(problem, (i, key))
                elif not isinstance(value, list):
                    raise ConfigProblem(
                        f"should be a list of values or a distribution like randint(1, 200) (got {value!r})",
                        (i, key),
                    )
                elif not value:
                    raise ConfigProblem(f"empty distributions: {key} has no values to sample", (i, key))
        return spaces

    @model_validator(mode="after")
    def _params_not_searched(self) -> ModelSpec:
        for field in ("grid", "distributions"):
            for i, space in enumerate(getattr(self, field) or ()):
                for key in space:
                    if key in self.params:
                        raise ConfigProblem(
                            f"{key} is both fixed in params and searched in {field}: keep only one",
                            (field, i, key),
                        )
        return self

    def effective_search(self, defaults: SearchSettings) -> SearchSettings:
        """The project's search settings with this model's overrides applied."""
        if self.search is None:
            return defaults
        merged = {**defaults.model_dump(), **self.search.model_dump(exclude_unset=True)}
        return SearchSettings.model_validate(merged)

    def space_key(self, strategy: Strategy) -> Literal["grid", "distributions"]:
        """The key holding the space for ``strategy`` (random and tpe sample the grid if no distributions;
        halving halves the grid if there is one, else the distributions)."""
        if strategy in ("random", "tpe") and self.distributions is not None:
            return "distributions"
        if strategy == "halving" and self.grid is None:
            return "distributions"
        return "grid"

    def where(self, *key_path: str | int) -> str:
        """``file:line:col (models[i].key...)`` of a key below this model, for error messages."""
        if self._locator is None:
            return Locator.detached(("models", self.name)).where(*key_path)
        return self._locator.where(*key_path)


class RegistrySettings(_Schema):
    """Where registered models live: the name they are registered under, and the artifact folder."""

    name: Name | None = None  # default: the project's name
    # A folder (relative to this file) or an fsspec URL; default: ``artifacts/`` beside the store.
    artifacts: str | None = None

    @field_validator("artifacts", mode="before")
    @classmethod
    def _resolve_artifacts(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigProblem("should be a folder or an fsspec URL")
        value = _expand_env(value)
        if "://" in value:
            return value
        return os.path.normpath(_base_dir(info) / Path(value).expanduser())


class ServeSettings(_Schema):
    """The HTTP prediction service (``hone serve``)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    protect_predict: bool = False  # true: /predict needs the bearer token too
    max_rows: Positive = 10_000  # rows per /predict request
    max_body_mb: Annotated[float, Field(gt=0)] = 10.0
    reload_seconds: Annotated[float, Field(gt=0)] = 2.0  # how often the champion alias is checked
    # true: a numeric feature with no missing values in training accepts them too (the preparation imputes
    # them; the monitor's missing-value check watches the rate). Read when a version is registered.
    allow_missing: bool = False
    # The prediction log's folder (Parquet parts); default: ``log/`` beside the store.
    log: str | None = None

    @field_validator("log", mode="before")
    @classmethod
    def _resolve_log(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigProblem("should be a folder")
        return os.path.normpath(_base_dir(info) / Path(_expand_env(value)).expanduser())


_DURATION_RE = re.compile(r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """``"90s"``, ``"10m"``, ``"1h"``, ``"7d"`` (or a number of seconds) -> seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(value) if isinstance(value, str) else None
        if match is None:
            raise ConfigProblem(f"{value!r} is not a duration like 90s, 10m, 1h or 7d")
        seconds = float(match.group("amount")) * _SECONDS[match.group("unit")]
    if seconds <= 0:
        raise ConfigProblem("a duration must be positive")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
Share = Annotated[float, Field(ge=0, le=1)]


class WindowSettings(_Schema):
    """How the prediction log is cut into windows: every ``rows`` predictions, or every ``every``."""

    rows: Positive | None = None
    every: Duration | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> WindowSettings:
        if self.rows is not None and self.every is not None:
            raise ConfigProblem("give either rows or every, not both", ("every",))
        if self.rows is None and self.every is None:
            self.rows = 1000
        return self


class PerformanceRule(_Schema):
    """When live performance (from feedback labels) is bad enough to alert. Any rule given can fire."""

    metric: str | None = None  # rmse | mae | r2 | accuracy | f1 ...; default: rmse / accuracy
    threshold: float | None = None  # absolute: worse than this value
    max_drop: Annotated[float, Field(gt=0)] | None = 0.2  # relative: worse than the test metric by this share
    # The window's interval lies wholly on the bad side of the test one. Off by default: with a window
    # every hour, a clean stream would cross it by chance about once a week (measured 0.4-0.75% of windows).
    outside_test_interval: bool = False
    min_labels: Positive = 50  # fewer labelled rows in a window: no verdict
    # Labels arrive after predictions: a window is checked only once it ended this long ago.
    label_delay: Duration | None = None


class QualityRules(_Schema):
    """Input data quality, per feature, against the schema and the reference profile."""

    missing_jump: Share = 0.05  # missing rate above the training rate by more than this
    out_of_range: Share = 0.02  # share of values outside the range seen in training
    unseen_category: Share = 0.0  # share of categories never seen in training
    stuck_share: Share = 0.5  # one value taking more than this share of a feature that varied in training
    duplicate_rows: Share = 0.2  # rows repeating an earlier row of the window (above the training share)
    noise_correlation: Share = 0.5  # a feature's rank correlation with the prediction falls by this much


class DriftRules(_Schema):
    """Distribution shift per feature and of the predictions, against the reference profile."""

    psi: Annotated[float, Field(gt=0)] = 0.25  # population stability index on the stored bins
    p_value: Annotated[float, Field(gt=0, lt=1)] = 0.001  # KS (numeric) / chi-square (categorical)


class AlertChannel(_Schema):
    """Where alerts go: ``log`` (stderr and the store), ``webhook`` (JSON POST) or ``email`` (SMTP)."""

    kind: Literal["log", "webhook", "email"]
    url: str | None = None  # webhook
    host: str | None = None  # email: SMTP server
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    sender: str = "hone@localhost"
    to: list[str] = Field(default_factory=list)
    starttls: bool = False
    username_env: str | None = None  # names of environment variables holding SMTP credentials
    password_env: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> AlertChannel:
        if self.kind == "webhook" and not self.url:
            raise ConfigProblem("a webhook channel needs url", ("url",))
        if self.kind == "email" and (not self.host or not self.to):
            raise ConfigProblem("an email channel needs host and to", ("host",) if not self.host else ("to",))
        return self


class AlertSettings(_Schema):
    cooldown: Duration = 3600.0  # the same alert is not sent again within this time
    channels: list[AlertChannel] = Field(default_factory=lambda: [AlertChannel(kind="log")])


class MonitorSettings(_Schema):
    """``hone monitor``: windows of the prediction log checked for performance, quality and drift."""

    window: WindowSettings = Field(default_factory=WindowSettings)
    performance: PerformanceRule = Field(default_factory=PerformanceRule)
    quality: QualityRules = Field(default_factory=QualityRules)
    drift: DriftRules = Field(default_factory=DriftRules)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    auto_rollback: bool = False  # roll back a new champion whose live performance falls below its predecessor


class RetrainSettings(_Schema):
    """``hone retrain``: fresh data, the configured search (or a refit), and the champion/challenger gate."""

    data: DataSpec | None = None  # a new data source; default: the training set plus labelled feedback
    feedback: bool = True  # add labelled production rows from the prediction log
    window: Duration | None = None  # only production rows (and new-source rows) this recent
    refit_only: bool = False  # refit the champion's params instead of searching again
    holdout: Annotated[float, Field(gt=0, lt=1)] = 0.3  # share of the most recent labelled rows held out
    margin: Annotated[float, Field(ge=0)] = 0.0  # the challenger must be better by this share of the loss
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95  # of the paired bootstrap
    n_bootstrap: Positive = 2000
    schedule: str | None = None  # a cron expression for `hone retrain --schedule`


class LearnSettings(_Schema):
    """``hone learn``: online updates with ``partial_fit`` from feedback, snapshotted as versions."""

    batch_rows: Positive = 256
    snapshot_rows: Positive | None = 5000
    snapshot_every: Duration | None = None


# Estimator import paths allowed without asking: importing a module runs its top-level code, so a
# project file may only name classes under these packages (and those listed in `estimators.allow`).
DEFAULT_ESTIMATOR_PACKAGES = ("sklearn", "lightgbm", "xgboost", "catboost", "hone")


def under_package(path: str, packages: tuple[str, ...] | list[str]) -> bool:
    """True when ``path`` is one of ``packages`` or inside one (``sklearn.x``, not ``sklearnx``)."""
    return any(path == package or path.startswith(package + ".") for package in packages)


class EstimatorSettings(_Schema):
    """Which packages `estimator:` import paths may name, checked before anything is imported."""

    # More packages (or modules: mypkg.models) whose classes may be estimators, beside the defaults
    # sklearn, lightgbm, xgboost, catboost and hone.
    allow: list[DottedOrName] = Field(default_factory=list)

    def packages(self) -> tuple[str, ...]:
        return (*DEFAULT_ESTIMATOR_PACKAGES, *self.allow)


class ProjectConfig(_Schema):
    """The whole project file."""

    project: Name
    data: DataSpec
    split: SplitSettings = Field(default_factory=SplitSettings)
    prepare: PrepareSettings = Field(default_factory=PrepareSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    models: list[ModelSpec] = Field(default_factory=list)  # left out: a default shortlist (budget only)
    # A path (absolute after loading) or an SQLAlchemy URL; validated even when defaulted so the
    # default is resolved next to the config file too.
    store: str = Field(default=DEFAULT_STORE, validate_default=True)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)
    learn: LearnSettings = Field(default_factory=LearnSettings)
    estimators: EstimatorSettings = Field(default_factory=EstimatorSettings)

    _locator: Locator | None = PrivateAttr(default=None)
    _config_path: Path | None = PrivateAttr(default=None)

    @field_validator("store", mode="before")
    @classmethod
    def _resolve_store(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise ConfigProblem("should be a SQLite file path or an SQLAlchemy URL")
        if "://" in value:
            return value
        return os.path.normpath(_base_dir(info) / Path(value).expanduser())

    @field_validator("models")
    @classmethod
    def _at_least_one(cls, models: list[ModelSpec]) -> list[ModelSpec]:
        if not models:
            raise ConfigProblem("the shortlist is empty: give at least one model")
        return models

    @model_validator(mode="after")
    def _cross_checks(self) -> ProjectConfig:
        target = self.data.target
        for key in ("numeric", "categorical"):
            for i, column in enumerate(getattr(self.prepare, key) or ()):
                if column == target:
                    raise ConfigProblem(
                        f"{column!r} is the target (data.target), not a feature", ("prepare", key, i)
                    )
        names: set[str] = set()
        packages = self.estimators.packages()
        for i, model in enumerate(self.models):
            if not under_package(model.estimator, packages):
                raise ConfigProblem(
                    f"{model.estimator!r} is not under an allowed package ({', '.join(packages)}); "
                    "add its package to `estimators: {allow: [...]}` to trust it",
                    ("models", i, "estimator"),
                )
            if model.name in names:
                raise ConfigProblem(f"model name {model.name!r} is used twice", ("models", i, "name"))
            names.add(model.name)
            settings = self._merged_search(i, model)
            if model.space == "default":
                if model.grid is not None or model.distributions is not None:
                    problem = "give either space: default or a grid/distributions, not both"
                    raise ConfigProblem(problem, ("models", i))
                continue
            if settings.strategy == "grid" and model.grid is None:
                hint = " (distributions are only sampled by random and tpe)" if model.distributions else ""
                message = f"strategy grid needs a grid: param -> list of values{hint}"
                raise ConfigProblem(message, ("models", i))
            if settings.strategy in ("random", "tpe") and model.grid is None and model.distributions is None:
                problem = f"strategy {settings.strategy} needs distributions (or a grid to sample from)"
                raise ConfigProblem(problem, ("models", i))
            if settings.strategy == "halving" and model.grid is None and model.distributions is None:
                raise ConfigProblem("strategy halving needs a grid or distributions", ("models", i))
        return self

    def _merged_search(self, index: int, model: ModelSpec) -> SearchSettings:
        try:
            return model.effective_search(self.search)
        except ValidationError as exc:
            error = exc.errors()[0]
            cause = error.get("ctx", {}).get("error")
            at = tuple(error["loc"]) + (cause.at if isinstance(cause, ConfigProblem) else ())
            message = cause.message if isinstance(cause, ConfigProblem) else pydantic_message(error)
            overridden = model.search is not None and bool(at) and at[0] in model.search.model_fields_set
            location: KeyPath = ("models", index, "search") + (at if overridden else ())
            merged = f"{message} (with this model's search merged into search)"
            raise ConfigProblem(merged, location) from None

    @property
    def config_path(self) -> Path | None:
        """The absolute path of the file this config was loaded from (None if built in code)."""
        return self._config_path

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the config are resolved against."""
        return self._config_path.parent if self._config_path is not None else Path.cwd()

    @property
    def store_url(self) -> str:
        """An SQLAlchemy URL for the store: ``sqlite:///`` + absolute path, or the URL as given."""
        if "://" in self.store:
            return self.store
        path = Path(self.store)
        return f"sqlite:///{(path if path.is_absolute() else self.base_dir / path).as_posix()}"

    @property
    def home(self) -> Path:
        """The folder for what is not in the database: the SQLite file's folder, else ``.hone/`` here."""
        if "://" in self.store:
            return self.base_dir / ".hone"
        path = Path(self.store)
        return (path if path.is_absolute() else self.base_dir / path).parent

    @property
    def model_name(self) -> str:
        """The name models of this project are registered and served under."""
        return self.registry.name or self.project

    @property
    def artifacts_url(self) -> str:
        return self.registry.artifacts or str(self.home / "artifacts")

    @property
    def log_dir(self) -> Path:
        return Path(self.serve.log) if self.serve.log else self.home / "log"

    def model(self, name: str) -> ModelSpec:
        """The model called ``name``; a ConfigError naming the known models otherwise."""
        for model in self.models:
            if model.name == name:
                return model
        names = [m.name for m in self.models]
        raise ConfigError(
            f"no model named {name!r}{did_you_mean(name, names)} (models: {', '.join(names)})",
            where=self.where("models"),
        )

    def where(self, *key_path: str | int) -> str:
        """``file:line:col (key.path)`` of a key, e.g. ``where("models", 0, "grid")``, for errors."""
        locator = self._locator or Locator.detached()
        return locator.where(*key_path)


# --- turning pydantic errors into located ConfigErrors -----------------------------------------


# --- loading -----------------------------------------------------------------------------------


