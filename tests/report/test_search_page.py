"""The report page: self-contained, complete, escaped, and written atomically."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np
import pytest

from hone.report import (
    BarItem,
    ErrorSlices,
    ImportancePanel,
    ReportData,
    SearchPanel,
    Table,
    TestPanel,
    render_report,
    write_report,
)
from hone.report.analysis_charts import bar_chart, residual_chart
from hone.report.search_page import SECTIONS

FULL_REPORT_CHARTS = 16  # grid 3 + random 3 + svr 1 + comparison 1 + importances 3 + errors 3 + test 2


def test_no_external_reference_of_any_kind(report_html: str) -> None:
    assert "http://" not in report_html
    assert "https://" not in report_html
    assert "://" not in report_html  # no ftp://, file://, ... either
    assert all(u.startswith("url(#") for u in re.findall(r"url\([^)]*\)", report_html))
    # Every src/href stays inside the page: an anchor or an inline data: URI (rasterised scatter points).
    for target in re.findall(r'\b(?:src|href)="([^"]*)"', report_html):
        assert target.startswith(("#", "data:image/png;base64,")), target
    assert "@import" not in report_html and "url(http" not in report_html
    assert "default-src 'none'" in report_html  # the CSP forbids fetching even if something slipped in


def test_every_section_and_search_is_there(report_html: str, report_data: ReportData) -> None:
    for key, title in SECTIONS.items():
        assert f'<section id="{key}"><h2>{title}</h2>' in report_html
        assert f'href="#{key}"' in report_html  # and in the table of contents
    for i, search in enumerate(report_data.searches):
        assert f'<h3 id="search-{i}">{search.model}: {search.strategy} search</h3>' in report_html
    assert "(not yet)" not in report_html
    assert "3 searches" in report_html
    assert "Chart unavailable" not in report_html


def test_one_inline_svg_per_chart_with_unique_ids(report_html: str) -> None:
    assert report_html.count("<svg") == FULL_REPORT_CHARTS
    assert f'data-charts-expected="{FULL_REPORT_CHARTS}"' in report_html
    ids = re.findall(r'\bid="([^"]+)"', report_html)
    assert len(ids) == len(set(ids))
    for reference in re.findall(r'(?:href="#|url\(#)([^")]+)', report_html):
        assert reference in ids, reference
    assert "<?xml" not in report_html and "<metadata>" not in report_html


def test_titles_state_the_findings(report_html: str) -> None:
    assert "Best: max_features=8, n_estimators=30 (RMSE 49,899)" in report_html
    assert "at the edge of the grid" in report_html
    assert "Best model: random_forest (RMSE 49,899" in report_html
    assert "median_income matters most (0.345)" in report_html
    assert "Test RMSE 47,873 [45,893, 49,774] vs CV 49,899" in report_html
    assert "overfits the training folds" in report_html


def test_numbers_have_thousands_separators(report_html: str) -> None:
    for text in ("49,899", "63,669", "47,873", "45,893", "49,774", "4,128", "500,001", "−187"):
        assert text in report_html, text
    assert ">49899<" not in report_html and ">47873<" not in report_html


def test_user_strings_are_escaped(make_report) -> None:  # noqa: ANN001
    hostile = "<script>alert('hone')</script>"
    svr = make_report().searches[2]  # one chart each: cheap, and the comparison chart names both models
    searches = [dataclasses.replace(svr, model=hostile), dataclasses.replace(svr, model=f"{hostile} & co")]
    page = render_report(
        ReportData(project=f"housing {hostile}", generated_at="now & later", searches=searches)
    )
    assert page.count("<svg") == 3
    assert hostile not in page
    assert "&lt;script&gt;alert(&#x27;hone&#x27;)&lt;/script&gt;" in page  # in the HTML
    assert "&lt;script&gt;alert('hone')&lt;/script&gt; (random)" in page  # in the comparison chart's labels
    assert "now &amp; later" in page
    assert page.count("<script>") == 2  # only the report's own two scripts


def test_missing_sections_say_how_to_add_them(make_report) -> None:  # noqa: ANN001
    svr = make_report().searches[2]
    page = render_report(ReportData(project="housing", generated_at="today", searches=[svr]))
    assert "Run <code>hone evaluate</code> to add the test evaluation." in page
    assert "Run <code>hone analyze</code> to add feature importances." in page
    assert page.count("(not yet)") == 4
    assert page.count("<svg") == 1  # svr's random draws: score per parameter only, no grid, no train scores
    assert "Only one model was tuned" in page
    assert "not evaluated" in page and "1 search<" in page


def test_report_is_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_report) -> None:  # noqa: ANN001
    monkeypatch.setattr("hone.report.search_page.render_report", lambda data: f"<html>{data.project}</html>")
    target = tmp_path / "out" / "report.html"
    data: ReportData = make_report()
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace
    monkeypatch.setattr(
        os, "replace", lambda a, b: (replaced.append((str(a), str(b))), real_replace(a, b))[1]
    )

    assert write_report(data, target) == target
    assert target.read_text(encoding="utf-8") == "<html>housing</html>"
    ((temporary, final),) = replaced
    assert Path(temporary).parent == target.parent and final == str(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]

    def fail(a: str, b: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_report(dataclasses.replace(data, project="other"), target)
    assert target.read_text(encoding="utf-8") == "<html>housing</html>"  # the old report is intact
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]  # no temp file left


def test_big_scatter_is_downsampled_and_says_so() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(200_000, 80_000, 12_000)
    chart = residual_chart(truth, truth + rng.normal(0, 40_000, 12_000), "RMSE", "out-of-fold predictions")
    assert chart is not None
    assert "Showing a random sample of 5,000 points (seed 0)" in chart.caption
    assert "12,000 out-of-fold predictions" in chart.caption


def test_dollar_signs_in_names_are_not_mathtext() -> None:
    chart = bar_chart(
        [BarItem("price_$", 0.5), BarItem("cost ($)", 0.25)], "price_$ leads", "importance", "x"
    )
    assert chart is not None and "price_$" in chart.svg


def test_panels_check_their_lengths() -> None:
    with pytest.raises(ValueError, match="scores has 1 values for 2 candidates"):
        SearchPanel(
            model="m",
            strategy="grid",
            score_label="RMSE",
            lower_is_better=True,
            params=[{"a": 1}, {"a": 2}],
            scores=[1.0],
            score_std=[0.1, 0.1],
            best_index=0,
        )


def test_odd_inputs_render_without_failed_charts() -> None:
    # No params, failed (NaN) candidates, None/tuple params, higher-is-better, a `$` in a name, tiny arrays.
    linear = SearchPanel(
        model="linear_regression",
        strategy="grid",
        score_label="RMSE",
        lower_is_better=True,
        params=[{}],
        scores=[68_628.0],
        score_std=[2_700.0],
        train_scores=[68_000.0],
        best_index=0,
    )
    grid = [
        {"max_depth": d, "hidden": h, "criterion": c}
        for d in (None, 5, 10, 20)
        for h in ((10,), (10, 10))
        for c in ("gini", "entropy")
    ]
    tree = SearchPanel(
        model="tree $x$",
        strategy="random",
        score_label="accuracy",
        lower_is_better=False,
        params=grid,
        scores=[0.8 + 0.01 * i if i % 5 else float("nan") for i in range(len(grid))],
        score_std=[0.01] * len(grid),
        train_scores=[0.99] * len(grid),
        best_index=len(grid) - 2,
    )
    broken = SearchPanel(
        model="broken",
        strategy="grid",
        score_label="RMSE",
        lower_is_better=True,
        params=[{"a": 1}, {"a": 2}],
        scores=[float("nan")] * 2,
        score_std=[float("nan")] * 2,
        best_index=0,
    )
    data = ReportData(
        project="odd",
        generated_at="t",
        searches=[linear, tree, broken],
        importances=ImportancePanel(model="m", features=[BarItem("a", 0.3, 0.05), BarItem("b", -0.1)]),
        errors=ErrorSlices(
            label="RMSE",
            truth=[1.0, 2.0, 3.0],
            predicted=[1.5, 2.5, 2.0],
            tables=[
                Table(title="t", columns=["c", "v"], rows=[["a", float("nan")], ["b", 2.0]], chart_column="v")
            ],
        ),
        test=TestPanel(metrics={"RMSE": 50_000.0}, intervals={}, n_test=10, cv_value=49_000.0, label="RMSE"),
    )
    page = render_report(data)
    assert "Chart unavailable" not in page
    # linear: train vs CV; tree: parameters, heatmap, train vs CV; no comparison (one RMSE model scored);
    # importances, residuals, slice bars, test interval.
    assert page.count("<svg") == 8
    assert "1 candidate." in page and "tree $x$" in page
