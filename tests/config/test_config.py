"""The project file: parsing the example, building search spaces, and located errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import ParameterGrid, ParameterSampler
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from hone.config.distributions import parse_distribution
from hone.config.load import load_config
from hone.config.schema import ProjectConfig, SearchSettings, parse_derived
from hone.errors import ConfigError
from hone.tune.resolve import check_space_params, model_space, resolve_estimator, resolve_model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "housing" / "hone.yaml"

SEED_GRID = [
    {"n_estimators": [3, 10, 30], "max_features": [2, 4, 6, 8]},
    {"bootstrap": [False], "n_estimators": [3, 10], "max_features": [2, 3, 4]},
]

# A small valid project; the error tests break one thing in it at a time.
MINIMAL = """\
project: demo
data:
  dataset: housing
  target: median_house_value
split:
  test_size: 0.2
  stratify: median_income
  bins: [0, 1.5, 3.0, 4.5, 6.0, .inf]
search:
  scoring: neg_mean_squared_error
models:
  - name: forest
    estimator: sklearn.ensemble.RandomForestRegressor
    params: {random_state: 42}
    grid:
      - {n_estimators: [3, 10, 30], max_features: [2, 4, 6, 8]}
  - name: sampled
    estimator: sklearn.ensemble.RandomForestRegressor
    search: {strategy: random, n_iter: 5}
    distributions:
      n_estimators: randint(1, 200)
"""


def write(tmp_path: Path, text: str, name: str = "hone.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """1-based number of the line where ``needle`` (which may span lines) first starts."""
    assert needle in text, needle
    return text[: text.index(needle)].count("\n") + 1


def broken(old: str, new: str) -> str:
    assert MINIMAL.count(old) == 1, old
    return MINIMAL.replace(old, new)


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert "\n" not in str(error)
    return error


def assert_where(error: ConfigError, path: Path, line: int, column: int | None = None) -> None:
    assert error.where is not None
    expected = f"{path}:{line}:" if column is None else f"{path}:{line}:{column}"
    assert error.where.startswith(expected), (error.where, expected)


# --- the example -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> ProjectConfig:
    return load_config(EXAMPLE)


def test_example_top_level(example: ProjectConfig) -> None:
    assert example.project == "housing"
    assert example.data.dataset == "housing"
    assert example.data.path is None
    assert example.data.target == "median_house_value"
    assert example.config_path == EXAMPLE
    assert example.base_dir == EXAMPLE.parent
    assert example.store == str(EXAMPLE.parent / ".hone" / "hone.db")
    assert example.store_url == f"sqlite:///{EXAMPLE.parent}/.hone/hone.db"


def test_example_split_and_prepare(example: ProjectConfig) -> None:
    split = example.split
    assert split.test_size == 0.2
    assert split.stratify == "median_income"
    assert split.bins == [0, 1.5, 3.0, 4.5, 6.0, math.inf]
    assert split.seed == 42
    assert type(split).model_validate_json(split.model_dump_json()) == split  # .inf survives JSON
    prepare = example.prepare
    assert prepare.numeric is None
    assert prepare.categorical == ["ocean_proximity"]
    assert (prepare.impute, prepare.scale, prepare.one_hot) == ("median", "standard", True)
    assert list(prepare.derived.items()) == [
        ("rooms_per_hhold", "total_rooms / households"),
        ("pop_per_hhold", "population / households"),
        ("bedrooms_per_room", "total_bedrooms / total_rooms"),
    ]
    assert parse_derived(prepare.derived["bedrooms_per_room"]) == ("total_bedrooms", "/", "total_rooms")


def test_example_search_defaults(example: ProjectConfig) -> None:
    search = example.search
    assert search.strategy == "grid"
    assert search.cv == 5
    assert search.scoring == "neg_mean_squared_error"
    assert search.refit is True
    assert search.return_train_score is True
    assert search.n_jobs == -1
    assert search.random_state == 42
    assert search.prepare_in_folds is False
    assert search.max_rounds == 3


def test_example_models(example: ProjectConfig) -> None:
    assert [model.name for model in example.models] == ["forest_grid", "forest_random"]
    grid_model, random_model = example.models
    assert grid_model.estimator == random_model.estimator == "sklearn.ensemble.RandomForestRegressor"
    assert grid_model.params == random_model.params == {"random_state": 42}
    assert grid_model.effective_search(example.search) == example.search
    settings = random_model.effective_search(example.search)
    assert (settings.strategy, settings.n_iter) == ("random", 10)
    # everything else still comes from the project's defaults
    assert (settings.cv, settings.scoring, settings.random_state) == (5, "neg_mean_squared_error", 42)
    assert example.model("forest_random") is random_model


def test_grid_space_is_the_seeds_grid(example: ProjectConfig) -> None:
    model = example.model("forest_grid")
    space = model_space(model, model.effective_search(example.search))
    assert space == SEED_GRID
    assert len(ParameterGrid(space)) == 18  # 3 x 4 + 2 x 3, as in the book


def test_random_space_is_randint_distributions(example: ProjectConfig) -> None:
    model = example.model("forest_random")
    space = model_space(model, model.effective_search(example.search))
    assert isinstance(space, dict)
    assert set(space) == {"n_estimators", "max_features"}
    for name, (low, high) in {"n_estimators": (1, 200), "max_features": (1, 8)}.items():
        distribution = space[name]
        assert distribution.dist.name == "randint"
        assert distribution.args == (low, high)
        assert distribution.support() == (low, high - 1)  # scipy's randint excludes high
    draws = list(ParameterSampler(space, n_iter=10, random_state=42))
    assert len(draws) == 10
    assert all(1 <= draw["n_estimators"] < 200 and 1 <= draw["max_features"] < 8 for draw in draws)


def test_resolve_model_builds_the_estimator(example: ProjectConfig) -> None:
    model = example.model("forest_grid")
    estimator, space = resolve_model(model, model.effective_search(example.search))
    assert isinstance(estimator, RandomForestRegressor)
    assert estimator.get_params()["random_state"] == 42
    assert space == SEED_GRID


def test_where_points_into_the_file(example: ProjectConfig) -> None:
    text = EXAMPLE.read_text()
    line = line_of(text, "n_estimators: randint(1, 200)")
    assert example.where("models", 1, "distributions", 0, "n_estimators") == (
        f"{EXAMPLE}:{line}:7 (models[1].distributions.n_estimators)"
    )
    assert example.model("forest_grid").where("grid").startswith(f"{EXAMPLE}:{line_of(text, '    grid:')}:")


def test_unknown_model_name(example: ProjectConfig) -> None:
    with pytest.raises(ConfigError, match="no model named 'forest_grd'; did you mean 'forest_grid'"):
        example.model("forest_grd")


# --- loading details -------------------------------------------------------------------------------


def test_paths_resolve_against_the_config_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONE_TEST_DATA", "shared")
    text = (
        broken("  dataset: housing\n", "  path: ${HONE_TEST_DATA}/housing.csv\n") + "store: runs/results.db\n"
    )
    path = write(tmp_path, text)
    config = load_config(path)
    assert config.data.path == tmp_path / "shared" / "housing.csv"
    assert config.store_url == f"sqlite:///{tmp_path}/runs/results.db"


def test_data_path_must_be_csv_or_parquet(tmp_path: Path) -> None:
    text = broken("  dataset: housing\n", "  path: data/housing.xlsx\n")
    path = write(tmp_path, text)
    error = load_error(path)
    assert error.message.startswith("data.path: 'data/housing.xlsx' should be a CSV")
    assert_where(error, path, line_of(text, "housing.xlsx"), 9)


def test_store_url_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "store: postgresql://hone@db.example/hone\n")
    assert load_config(path).store_url == "postgresql://hone@db.example/hone"


def test_unset_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HONE_TEST_UNSET", raising=False)
    text = broken("  dataset: housing\n", "  path: ${HONE_TEST_UNSET}/housing.csv\n")
    path = write(tmp_path, text)
    error = load_error(path)
    assert "data.path" in error.message and "HONE_TEST_UNSET is not set" in error.message
    assert_where(error, path, line_of(text, "path:"), 9)


def test_multi_metric_refit(tmp_path: Path) -> None:
    good = broken(
        "  scoring: neg_mean_squared_error\n", "  scoring: [neg_mean_squared_error, r2]\n  refit: r2\n"
    )
    assert load_config(write(tmp_path, good)).search.refit == "r2"
    bad = broken("  scoring: neg_mean_squared_error\n", "  scoring: [neg_mean_squared_error, r2]\n")
    path = write(tmp_path, bad, "bad.yaml")
    error = load_error(path)
    assert error.message.startswith("search.refit: with a list of scoring metrics, refit must name")


def test_override_conflicting_with_defaults_points_at_the_model(tmp_path: Path) -> None:
    text = broken(
        "search: {strategy: random, n_iter: 5}",
        "search: {strategy: random, scoring: [r2, explained_variance]}",
    )
    path = write(tmp_path, text)
    error = load_error(path)
    assert error.message.startswith("models[1].search: with a list of scoring metrics")
    assert_where(error, path, line_of(text, "search: {strategy: random"))


def test_random_strategy_may_sample_a_grid(tmp_path: Path) -> None:
    text = broken(
        "    params: {random_state: 42}\n", "    params: {random_state: 42}\n    search: {strategy: random}\n"
    )
    config = load_config(write(tmp_path, text))
    model = config.models[0]
    space = model_space(model, model.effective_search(config.search))
    assert space == SEED_GRID[0]  # one mapping: given to ParameterSampler as a dict of lists


# --- load errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "fragments", "needle"),
    [
        pytest.param(
            "  target: median_house_value",
            "  targt: median_house_value",
            ["data.targt: unknown key", "did you mean 'target'?", "allowed keys: dataset, path, target"],
            "targt:",
            id="unknown-key",
        ),
        pytest.param(
            "search:\n",
            "serch:\n",
            ["serch: unknown key", "did you mean 'search'?"],
            "serch:",
            id="unknown-top-level-key",
        ),
        pytest.param(
            "search: {strategy: random, n_iter: 5}",
            "search: {strategy: random, n_iters: 5}",
            ["models[1].search.n_iters: unknown key", "did you mean 'n_iter'?"],
            "n_iters",
            id="unknown-key-in-model-search",
        ),
        pytest.param(
            "    estimator: sklearn.ensemble.RandomForestRegressor\n    params",
            "    params",
            ["models[0].estimator: required key is missing"],
            "- name: forest",  # the model's mapping
            id="missing-key",
        ),
        pytest.param(
            "    grid:\n      - {n_estimators: [3, 10, 30], max_features: [2, 4, 6, 8]}\n",
            "    grid: []\n",
            ["models[0].grid: empty grid"],
            "grid:",
            id="empty-grid",
        ),
        pytest.param(
            "max_features: [2, 4, 6, 8]",
            "max_features: []",
            ["models[0].grid[0].max_features: empty grid", "max_features has no values"],
            "max_features: []",
            id="empty-list-in-grid",
        ),
        pytest.param(
            "randint(1, 200)",
            "randint(1, lots)",
            [
                "models[1].distributions.n_estimators: bad distribution 'randint(1, lots)'",
                "randint(low, high)",
            ],
            "randint(1, lots)",
            id="bad-distribution",
        ),
        pytest.param(
            "randint(1, 200)",
            "__import__('os').getcwd()",
            ["bad distribution", "supported: randint(low, high)"],
            "__import__",
            id="distribution-is-not-evaluated",
        ),
        pytest.param(
            "[0, 1.5, 3.0, 4.5, 6.0, .inf]",
            "[0, 3.0, 1.5, 6.0]",
            ["split.bins[2]: bins must be increasing, but 1.5 follows 3"],
            "bins:",
            id="bins-not-increasing",
        ),
        pytest.param(
            "  stratify: median_income\n",
            "",
            ["split.bins: bins cut the stratify column", "set split.stratify"],
            "bins:",
            id="bins-without-stratify",
        ),
        pytest.param(
            "test_size: 0.2",
            "test_size: 1.5",
            ["split.test_size: should be less than 1 (got 1.5)"],
            "test_size",
            id="test-size-too-big",
        ),
        pytest.param(
            "test_size: 0.2",
            "test_size: 0",
            ["split.test_size: should be greater than 0 (got 0)"],
            "test_size",
            id="test-size-zero",
        ),
        pytest.param(
            "  - name: sampled",
            "  - name: forest",
            ["models[1].name: model name 'forest' is used twice"],
            "  - name: forest\n    estimator: sklearn.ensemble.RandomForestRegressor\n    search",
            id="duplicate-model-names",
        ),
        pytest.param(
            "search: {strategy: random, n_iter: 5}",
            "search: {n_iter: 5}",
            ["models[1]: strategy grid needs a grid"],
            "  - name: sampled",
            id="grid-strategy-without-grid",
        ),
        pytest.param(
            "    params: {random_state: 42}\n",
            "    params: {random_state: 42, n_estimators: 100}\n",
            ["models[0].grid[0].n_estimators: n_estimators is both fixed in params and searched in grid"],
            "{n_estimators: [3, 10, 30]",
            id="param-fixed-and-searched",
        ),
        pytest.param(
            "scoring: neg_mean_squared_error",
            "scoring: neg_mean_sqared_error",
            [
                "search.scoring: unknown scorer 'neg_mean_sqared_error'",
                "did you mean 'neg_mean_squared_error'?",
            ],
            "scoring:",
            id="unknown-scorer",
        ),
        pytest.param(
            "    estimator: sklearn.ensemble.RandomForestRegressor\n    params",
            "    estimator: RandomForestRegressor\n    params",
            ["models[0].estimator: 'RandomForestRegressor' is not an import path"],
            "estimator: RandomForestRegressor",
            id="estimator-not-dotted",
        ),
        pytest.param(
            "  test_size: 0.2\n",
            "  test_size: 0.2\n  test_size: 0.3\n",
            ["split.test_size: duplicate key 'test_size'"],
            "test_size: 0.3",
            id="duplicate-yaml-key",
        ),
    ],
)
def test_load_error(tmp_path: Path, old: str, new: str, fragments: list[str], needle: str) -> None:
    text = broken(old, new)
    path = write(tmp_path, text)
    error = load_error(path)
    for fragment in fragments:
        assert fragment in error.message
    assert_where(error, path, line_of(text, needle))


def test_missing_key_points_at_parent_mapping_column(tmp_path: Path) -> None:
    text = broken("  target: median_house_value\n", "")
    path = write(tmp_path, text)
    error = load_error(path)
    assert error.message == "data.target: required key is missing"
    assert error.where == f"{path}:{line_of(text, 'data:')}:1"


def test_malformed_yaml(tmp_path: Path) -> None:
    text = (
        "project: demo\ndata:\n  dataset: housing\n  target: [median_house_value\nsplit:\n  test_size: 0.2\n"
    )
    path = write(tmp_path, text)
    error = load_error(path)
    assert error.message.startswith("invalid YAML:")
    assert "flow sequence" in error.message and "at line 4" in error.message
    assert error.where is not None and error.where.startswith(f"{path}:")


def test_malformed_yaml_tab(tmp_path: Path) -> None:
    path = write(tmp_path, "project: demo\ndata:\n\tdataset: housing\n")
    error = load_error(path)
    assert error.message.startswith("invalid YAML:") and "'\\t'" in error.message
    assert_where(error, path, 3, 1)


def test_missing_file(tmp_path: Path) -> None:
    error = load_error(tmp_path / "nope.yaml")
    assert error.message == "project file not found"
    assert error.where == str(tmp_path / "nope.yaml")


def test_directory(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    error = load_error(tmp_path)
    assert error.message.startswith("is a directory") and "hone.yaml" in error.message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    assert load_error(write(tmp_path, text)).message == "project file is empty"


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "# a list\n- project: demo\n")
    error = load_error(path)
    assert "top level must be a mapping" in error.message and "not a list" in error.message
    assert_where(error, path, 2, 1)


# --- estimators, parameters and distributions ---------------------------------------------------


def resolve_all(path: Path) -> None:
    config = load_config(path)
    for model in config.models:
        resolve_model(model, model.effective_search(config.search))


def test_unknown_estimator_class(tmp_path: Path) -> None:
    text = broken(
        "    estimator: sklearn.ensemble.RandomForestRegressor\n    params",
        "    estimator: sklearn.ensemble.RandomForestRegresor\n    params",
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        resolve_all(path)
    error = caught.value
    assert "cannot import 'sklearn.ensemble.RandomForestRegresor'" in error.message
    assert "did you mean 'RandomForestRegressor'?" in error.message
    assert error.where == f"{path}:{line_of(text, 'RandomForestRegresor')}:5 (models[0].estimator)"


def test_unknown_estimator_module(tmp_path: Path) -> None:
    text = broken(
        "    estimator: sklearn.ensemble.RandomForestRegressor\n    params",
        "    estimator: sklearn.ensmble.RandomForestRegressor\n    params",
    )
    path = write(tmp_path, text)
    with pytest.raises(
        ConfigError, match=r"sklearn has no attribute 'ensmble'; did you mean 'ensemble'\?"
    ) as caught:
        resolve_all(path)
    assert caught.value.where is not None
    assert caught.value.where.startswith(f"{path}:{line_of(text, 'ensmble')}:")


def test_import_path_of_a_missing_package() -> None:
    with pytest.raises(ConfigError, match="no module named 'no_such_package_hone'") as caught:
        resolve_estimator("no_such_package_hone.Model", {}, "here")
    assert caught.value.where == "here"


def test_import_path_that_is_not_an_estimator() -> None:
    with pytest.raises(ConfigError, match="is not an estimator class"):
        resolve_estimator("sklearn.model_selection.train_test_split", {}, "here")


def test_grid_param_the_estimator_does_not_accept(tmp_path: Path) -> None:
    text = broken("{n_estimators: [3, 10, 30]", "{n_estimator: [3, 10, 30]")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        resolve_all(path)
    error = caught.value
    assert error.message.startswith("RandomForestRegressor does not accept parameter 'n_estimator'")
    assert "did you mean 'n_estimators'" in error.message
    assert error.where == f"{path}:{line_of(text, 'n_estimator:')}:10 (models[0].grid[0].n_estimator)"


def test_fixed_param_the_estimator_does_not_accept(tmp_path: Path) -> None:
    text = broken("params: {random_state: 42}", "params: {random_stat: 42}")
    path = write(tmp_path, text)
    with pytest.raises(
        ConfigError, match="does not accept parameter 'random_stat'; did you mean 'random_state'"
    ) as caught:
        resolve_all(path)
    assert caught.value.where == f"{path}:{line_of(text, 'random_stat')}:14 (models[0].params.random_stat)"


def test_distribution_param_the_estimator_does_not_accept(tmp_path: Path) -> None:
    text = broken("      n_estimators: randint(1, 200)", "      n_estimatrs: randint(1, 200)")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="'n_estimatrs'; did you mean 'n_estimators'") as caught:
        resolve_all(path)
    assert (
        caught.value.where == f"{path}:{line_of(text, 'n_estimatrs')}:7 (models[1].distributions.n_estimatrs)"
    )


def test_resolve_estimator_constructs_with_params() -> None:
    estimator = resolve_estimator("sklearn.ensemble.RandomForestRegressor", {"n_estimators": 7}, "here")
    assert isinstance(estimator, RandomForestRegressor) and estimator.n_estimators == 7
    with pytest.raises(ConfigError, match="'max_feature'; did you mean 'max_features'") as caught:
        resolve_estimator("sklearn.ensemble.RandomForestRegressor", {"max_feature": 2}, "here")
    assert caught.value.where == "here"


def test_check_space_params_nested_names() -> None:
    pipeline = Pipeline([("scale", StandardScaler()), ("model", Ridge())])
    check_space_params(pipeline, [{"model__alpha": [0.1, 1.0], "scale__with_mean": [True]}], "here")
    check_space_params(pipeline, {"model": [Ridge()], "model__alpha": [1.0]}, "here")
    with pytest.raises(
        ConfigError, match="Pipeline does not accept parameter 'model__alpah'; did you mean 'model__alpha'"
    ):
        check_space_params(pipeline, [{"model__alpah": [0.1]}], "here")


@pytest.mark.parametrize(
    ("text", "name", "args", "kwds"),
    [
        ("randint(1, 200)", "randint", (1, 200), {}),
        ("uniform(0.5, 2)", "uniform", (), {"loc": 0.5, "scale": 2}),
        ("uniform()", "uniform", (), {"loc": 0.0, "scale": 1.0}),
        ("loguniform(1e-3, 1E2)", "loguniform", (0.001, 100.0), {}),
        ("norm(loc=-1.5, scale=.5)", "norm", (), {"loc": -1.5, "scale": 0.5}),
        ("expon(0, 2.5e1)", "expon", (), {"loc": 0, "scale": 25.0}),
        ("  randint( -3 ,+3 ) ", "randint", (-3, 3), {}),
    ],
)
def test_parse_distribution(text: str, name: str, args: tuple[float, ...], kwds: dict[str, float]) -> None:
    distribution = parse_distribution(text, "here")
    assert isinstance(distribution, stats.distributions.rv_frozen)
    assert distribution.dist.name == name
    assert distribution.args == args
    assert distribution.kwds == kwds


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("randint(1)", "randint needs low and high"),
        ("randint(1.5, 10)", "integer bounds"),
        ("randint(10, 1)", "low must be less than high"),
        ("uniform(0, -1)", "scale must be positive"),
        ("loguniform(0, 1)", "low > 0"),
        ("norm(1, 2, 3)", "at most 2 arguments"),
        ("norm(mean=1)", "norm has no argument 'mean'"),
        ("gamma(2)", "unknown distribution 'gamma'"),
        ("randit(1, 5)", "did you mean 'randint'"),
        ("randint(1, 2**8)", "is not a number"),
        ("__import__('os').system('true')", "not a distribution call"),
        ("expon(1e999)", "not finite"),
    ],
)
def test_parse_distribution_rejects(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_distribution(text, "hone.yaml:3:5 (models[0].distributions.x)")
    error = caught.value
    assert problem in error.message
    assert "supported: randint(low, high)" in error.message
    assert error.where == "hone.yaml:3:5 (models[0].distributions.x)"


def test_search_settings_defaults() -> None:
    settings = SearchSettings()
    assert (settings.strategy, settings.cv, settings.refit, settings.n_iter) == ("grid", 5, True, 10)


# --- estimators outside the allowed packages; names that would climb out of a folder ----------------


def test_an_estimator_outside_the_allowed_packages_is_refused_before_any_import(tmp_path: Path) -> None:
    # A module that would leave a mark if it were imported: the check must come first.
    (tmp_path / "sneaky_hone_module.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').close()\nclass Model: pass\n"
    )
    text = broken("    estimator: sklearn.ensemble.RandomForestRegressor\n    params",
                  "    estimator: sneaky_hone_module.Model\n    params")
    path = write(tmp_path, text)
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        error = load_error(path)
    finally:
        sys.path.remove(str(tmp_path))
    assert "'sneaky_hone_module.Model' is not under an allowed package" in error.message
    assert "estimators: {allow:" in error.message
    assert_where(error, path, line_of(text, "    estimator: sneaky_hone_module.Model"))
    assert not (tmp_path / "imported").exists()


def test_estimators_allow_adds_a_package_and_prefixes_match_whole_parts(tmp_path: Path) -> None:
    text = broken("sklearn.ensemble.RandomForestRegressor\n    params", "mypkg.models.Forest\n    params")
    allowed = load_config(write(tmp_path, text + "estimators: {allow: [mypkg.models]}\n"))
    assert allowed.models[0].estimator == "mypkg.models.Forest"
    assert "sklearn" in allowed.estimators.packages() and "mypkg.models" in allowed.estimators.packages()
    error = load_error(write(tmp_path, text + "estimators: {allow: [mypkg.model]}\n"))
    assert "not under an allowed package" in error.message
    lookalike = broken("sklearn.ensemble.RandomForestRegressor\n    params", "sklearnx.Forest\n    params")
    assert "not under an allowed package" in load_error(write(tmp_path, lookalike)).message


@pytest.mark.parametrize("name", ["..", ".", "..."])
def test_a_project_name_of_dots_only_is_a_config_error_with_its_line(tmp_path: Path, name: str) -> None:
    text = broken("project: demo\n", f'project: "{name}"\n')
    path = write(tmp_path, text)
    error = load_error(path)
    assert "is not a valid name" in error.message and "not dots alone" in error.message
    assert_where(error, path, 1)
