"""A realistic report built from made-up numbers shaped like the seed's housing run."""

from __future__ import annotations

import numpy as np
import pytest

from hone.report import (
    BarItem,
    DropPanel,
    ErrorSlices,
    ImportancePanel,
    ReportData,
    SearchPanel,
    Table,
    TestPanel,
)

# The seed's 18 grid candidates with RMSEs like the book's; the best is max_features=8, n_estimators=30.
GRID = [
    ({"max_features": 2, "n_estimators": 3}, 63_669, 27_000),
    ({"max_features": 2, "n_estimators": 10}, 55_627, 21_500),
    ({"max_features": 2, "n_estimators": 30}, 53_384, 19_900),
    ({"max_features": 4, "n_estimators": 3}, 60_965, 26_400),
    ({"max_features": 4, "n_estimators": 10}, 52_741, 20_700),
    ({"max_features": 4, "n_estimators": 30}, 50_377, 19_300),
    ({"max_features": 6, "n_estimators": 3}, 58_663, 25_800),
    ({"max_features": 6, "n_estimators": 10}, 52_006, 20_300),
    ({"max_features": 6, "n_estimators": 30}, 50_146, 19_000),
    ({"max_features": 8, "n_estimators": 3}, 57_869, 25_100),
    ({"max_features": 8, "n_estimators": 10}, 51_711, 20_000),
    ({"max_features": 8, "n_estimators": 30}, 49_899, 18_800),
    ({"bootstrap": False, "max_features": 2, "n_estimators": 3}, 62_895, 0.0),
    ({"bootstrap": False, "max_features": 2, "n_estimators": 10}, 54_658, 0.0),
    ({"bootstrap": False, "max_features": 3, "n_estimators": 3}, 59_470, 3.1),
    ({"bootstrap": False, "max_features": 3, "n_estimators": 10}, 52_725, 0.0),
    ({"bootstrap": False, "max_features": 4, "n_estimators": 3}, 57_490, 5.4),
    ({"bootstrap": False, "max_features": 4, "n_estimators": 10}, 51_009, 0.0),
]
RANDOM_PICKS = [11, 1, 3, 8, 10, 0, 2, 7, 15, 16]  # ten of the grid's candidates, as RandomizedSearchCV draws
FEATURES = [
    ("median_income", 0.3449),
    ("INLAND", 0.1727),
    ("pop_per_hhold", 0.1116),
    ("bedrooms_per_room", 0.0699),
    ("longitude", 0.0681),
    ("latitude", 0.0644),
    ("rooms_per_hhold", 0.0523),
    ("housing_median_age", 0.0430),
    ("total_rooms", 0.0162),
    ("population", 0.0152),
    ("total_bedrooms", 0.0145),
    ("households", 0.0141),
    ("<1H OCEAN", 0.0079),
    ("NEAR OCEAN", 0.0031),
    ("NEAR BAY", 0.0021),
    ("ISLAND", 0.00007),
]
OCEAN = ["<1H OCEAN", "INLAND", "NEAR OCEAN", "NEAR BAY", "ISLAND"]
CHARTS_IN_FULL_REPORT = 16  # 3 + 3 + 1 per search, comparison, 3 importances, 3 errors, 2 test


def grid_panel(model: str = "random_forest") -> SearchPanel:
    rng = np.random.default_rng(1)
    return SearchPanel(
        model=model,
        strategy="grid",
        score_label="RMSE",
        lower_is_better=True,
        params=[dict(p) for p, _s, _t in GRID],
        scores=[float(s) for _p, s, _t in GRID],
        score_std=[float(x) for x in rng.uniform(900, 2_600, len(GRID))],
        train_scores=[float(t) for _p, _s, t in GRID],
        best_index=11,
        notes=[
            "max_features=8 and n_estimators=30 are the largest values tried; the score may keep improving"
        ],
        n_splits=5,
    )


def random_panel() -> SearchPanel:
    rng = np.random.default_rng(2)
    picks = [GRID[i] for i in RANDOM_PICKS]
    scores = [float(s) + float(rng.uniform(0, 400)) for _p, s, _t in picks]  # refits differ a little
    return SearchPanel(
        model="random_forest",
        strategy="random",
        score_label="RMSE",
        lower_is_better=True,
        params=[dict(p) for p, _s, _t in picks],
        scores=scores,
        score_std=[float(x) for x in rng.uniform(900, 2_600, len(picks))],
        train_scores=[float(t) for _p, _s, t in picks],
        best_index=int(np.argmin(scores)),
        n_splits=5,
    )


def svr_panel() -> SearchPanel:
    rng = np.random.default_rng(3)
    n = 12
    c = np.exp(rng.uniform(np.log(10), np.log(200_000), n))
    gamma = np.exp(rng.uniform(np.log(0.01), np.log(3.0), n))
    kernel = ["linear" if k else "rbf" for k in rng.integers(0, 2, n)]
    scores = 70_000 + 40_000 / (1 + np.log10(c)) + rng.normal(0, 1_500, n)
    return SearchPanel(
        model="svr",
        strategy="random",
        score_label="RMSE",
        lower_is_better=True,
        params=[
            {"C": float(ci), "gamma": float(gi), "kernel": ki}
            for ci, gi, ki in zip(c, gamma, kernel, strict=True)
        ],
        scores=[float(s) for s in scores],
        score_std=[float(x) for x in rng.uniform(1_000, 3_000, n)],
        best_index=int(np.argmin(scores)),
        n_splits=5,
    )


def housing_like(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Truth capped at 500,001 like the housing prices; predictions shrink toward the mean."""
    rng = np.random.default_rng(seed)
    truth = np.minimum(rng.lognormal(np.log(180_000), 0.55, n), 500_001.0)
    predicted = 0.82 * truth + 0.18 * truth.mean() + rng.normal(0, 42_000, n)
    return truth, predicted


def importances() -> ImportancePanel:
    features = [BarItem(name, value) for name, value in FEATURES]
    grouped_values = {name: value for name, value in FEATURES if name not in OCEAN}
    grouped_values["ocean_proximity"] = sum(value for name, value in FEATURES if name in OCEAN)
    grouped = [BarItem(n, v) for n, v in sorted(grouped_values.items(), key=lambda kv: -kv[1])]
    rng = np.random.default_rng(4)
    permutation = [
        BarItem(item.name, item.value * 110_000, float(rng.uniform(300, 1_500))) for item in grouped[:9]
    ]
    return ImportancePanel(
        model="random_forest {'max_features': 8, 'n_estimators': 30}",
        features=features,
        grouped=grouped,
        permutation=permutation,
        permutation_label="RMSE increase when shuffled",
    )


def errors() -> ErrorSlices:
    truth, predicted = housing_like(4_000, seed=5)
    by_ocean = Table(
        title="Error by ocean_proximity",
        columns=["ocean_proximity", "rows", "RMSE", "mean error"],
        rows=[
            ["<1H OCEAN", 1_771, 47_210.5, 1_830.2],
            ["INLAND", 1_262, 55_902.1, -4_120.7],
            ["NEAR OCEAN", 516, 51_004.9, 910.4],
            ["NEAR BAY", 449, 49_120.0, -350.2],
            ["ISLAND", 2, 98_412.3, -98_000.0],
        ],
        chart_column="RMSE",
    )
    by_bin = Table(
        title="Error by median_income quintile",
        columns=["median_income", "rows", "RMSE", "mean error"],
        rows=[
            ["[0.50, 2.35)", 800, 38_114.0, 9_020.0],
            ["[2.35, 3.14)", 800, 44_020.0, 4_500.0],
            ["[3.14, 4.00)", 800, 48_950.0, -600.0],
            ["[4.00, 5.11)", 800, 53_770.0, -4_870.0],
            ["[5.11, 15.00]", 800, 63_410.0, -21_300.0],
        ],
        chart_column="RMSE",
    )
    worst = Table(
        title="Largest errors",
        columns=["row", "median_income", "ocean_proximity", "truth", "predicted", "error"],
        rows=[
            [15_360, 1.24, "NEAR BAY", 500_001.0, 162_350.0, -337_651.0],
            [8_207, 2.19, "<1H OCEAN", 500_001.0, 181_080.0, -318_921.0],
            [1_933, 7.80, "INLAND", 112_500.0, 402_110.0, 289_610.0],
        ],
    )
    return ErrorSlices(
        label="RMSE",
        truth=truth,
        predicted=predicted,
        tables=[by_ocean, by_bin],
        worst=worst,
        bias=[
            "Underestimates houses above 450,000 by 61,000 on average (the 500,001 price cap).",
            "Overestimates the cheapest fifth by 18,000 on average.",
        ],
        overall=49_899.0,
        model="random_forest {'max_features': 8, 'n_estimators': 30}",
    )


def evaluation_panel() -> TestPanel:
    truth, predicted = housing_like(4_128, seed=6)
    return TestPanel(
        metrics={"RMSE": 47_873.0, "MAE": 31_780.0, "R2": 0.8241},
        intervals={"RMSE": (45_893.0, 49_774.0, "t-interval on squared errors")},
        n_test=4_128,
        cv_value=49_899.0,
        label="RMSE",
        truth=truth,
        predicted=predicted,
        times_test_set_used=1,
        warning=None,
        final=True,
        model="random_forest {'max_features': 8, 'n_estimators': 30}",
    )


def full_report() -> ReportData:
    return ReportData(
        project="housing",
        generated_at="2025-01-31 14:05 UTC",
        searches=[grid_panel(), random_panel(), svr_panel()],
        importances=importances(),
        drop=DropPanel(
            dropped=["<1H OCEAN", "ISLAND", "NEAR BAY", "NEAR OCEAN"],
            before=49_899.0,
            after=49_712.0,
            label="RMSE",
        ),
        errors=errors(),
        test=evaluation_panel(),
    )


@pytest.fixture
def make_report():  # noqa: ANN201 - a builder, so a test can change a fresh copy
    return full_report


@pytest.fixture(scope="session")
def report_data() -> ReportData:
    return full_report()


@pytest.fixture(scope="session")
def report_html(report_data: ReportData) -> str:
    from hone.report import render_report

    return render_report(report_data)
