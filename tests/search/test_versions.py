"""Library versions: the scikit-learn range sharing was tested on; scikit-learn and hone in fingerprints."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import sklearn
import tomllib
from sklearn.neighbors import KNeighborsRegressor

import hone
from hone.search.versions import TESTED_SKLEARN, release, sharing_allowed, sklearn_is_tested

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_allows_exactly_the_tested_scikit_learn_range_and_a_joblib_with_unordered_generators():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    sklearn = next(d for d in dependencies if d.startswith("scikit-learn"))
    low, high = re.fullmatch(r"scikit-learn>=([\d.]+),<([\d.]+)", sklearn).groups()
    assert (release(low), release(high)) == TESTED_SKLEARN
    assert "joblib>=1.4" in dependencies


@pytest.mark.parametrize(
    ("version", "tested"),
    [("1.9.1", True), ("1.9.7", True), ("1.9.0", False), ("1.10.0", False), ("1.10.dev0", False)],
)
def test_the_tested_range(version: str, tested: bool) -> None:
    assert sklearn_is_tested(version) is tested


def test_sharing_is_off_with_one_warning_outside_the_tested_range() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert sharing_allowed("1.9.1") is True
        assert sharing_allowed("1.11.2") is False
        assert sharing_allowed("1.11.2") is False
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert "scikit-learn 1.11.2 is outside the range" in messages[0] and ">=1.9.1,<1.10" in messages[0]


def test_an_upgrade_of_scikit_learn_starts_a_new_study(tmp_path: Path, housing_slice, monkeypatch) -> None:
    X, y = housing_slice
    store = str(tmp_path / "s.db")
    grid = {"n_neighbors": [1, 3]}
    first = hone.GridSearch(KNeighborsRegressor(), grid, cv=2, store=store).fit(X[:200], y[:200])
    again = hone.GridSearch(KNeighborsRegressor(), grid, cv=2, store=store).fit(X[:200], y[:200])
    assert again.study_name_ == first.study_name_ and again.n_fits_reused_ == 4
    monkeypatch.setattr(sklearn, "__version__", "1.9.2")  # still tested: sharing stays on
    upgraded = hone.GridSearch(KNeighborsRegressor(), grid, cv=2, store=store).fit(X[:200], y[:200])
    assert upgraded.study_name_ != first.study_name_ and upgraded.n_fits_reused_ == 0
