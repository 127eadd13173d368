"""The report's inline CSS and script: small, and nothing that fetches anything."""

from __future__ import annotations

from hone.report.figures import ACCENT, FONT_STACK, INK

CSS = f"""
:root {{ --accent: {ACCENT}; --ink: {INK}; --muted: #6b7280; --line: #e5e7eb; --soft: #f6f8fc; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; color: var(--ink); background: #fff; line-height: 1.5;
  font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; }}
main {{ max-width: 1000px; margin: 0 auto; padding: 24px 28px 64px; }}
h1 {{ font-size: 26px; margin: 8px 0 2px; }}
h2 {{ font-size: 21px; margin: 44px 0 10px; padding-top: 12px; border-top: 3px solid var(--accent); }}
h3 {{ font-size: 17px; margin: 28px 0 6px; }}
a {{ color: var(--accent); }}
code {{ background: var(--soft); padding: 1px 5px; border-radius: 4px; font-size: 90%; }}
.meta {{ color: var(--muted); margin: 0 0 18px; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0 8px; }}
.card {{ flex: 1 1 200px; background: var(--soft); border-left: 4px solid var(--accent);
  padding: 10px 14px; border-radius: 6px; }}
.card .k {{ color: var(--muted); font-size: 13px; }}
.card .v {{ font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }}
.card .s {{ font-size: 13px; }}
nav.toc {{ background: var(--soft); border-radius: 8px; padding: 10px 18px; margin: 18px 0; }}
nav.toc ol {{ margin: 4px 0; padding-left: 22px; }}
nav.toc ol ol {{ padding-left: 18px; font-size: 14px; }}
figure {{ margin: 14px 0 22px; }}
svg.chart {{ display: block; max-width: 100%; height: auto; }}
svg.chart text {{ font-family: {FONT_STACK}; }}
figcaption {{ color: var(--muted); font-size: 13px; margin-top: 2px; }}
table {{ border-collapse: collapse; margin: 8px 0 18px; font-size: 14px; }}
caption {{ text-align: left; font-weight: 600; padding: 4px 0; }}
th, td {{ padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }}
th {{ background: var(--soft); font-weight: 600; }}
td.num, th.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
tr.best td {{ background: #eef3fe; font-weight: 600; }}
.scroll {{ overflow-x: auto; }}
.note {{ color: var(--muted); font-style: italic; }}
.callout {{ background: #eef3fe; border-left: 4px solid var(--accent); padding: 8px 14px; border-radius: 6px;
  margin: 10px 0; }}
.warning {{ background: #fff4e5; border-left: 4px solid #d97706; padding: 8px 14px; border-radius: 6px;
  margin: 10px 0; }}
.badge {{ display: inline-block; font-size: 12px; font-weight: 600; padding: 1px 8px; border-radius: 10px;
  background: var(--accent); color: #fff; vertical-align: middle; }}
.badge.provisional {{ background: #d97706; }}
.big {{ font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }}
footer {{ color: var(--muted); font-size: 13px; margin-top: 48px; }}
"""

# Records script errors as early as possible, so the browser test sees them.
ERROR_SCRIPT = """
window.onerror = function (message) {
  var target = document.body || document.documentElement;
  var previous = target.dataset.scriptErrors;
  target.dataset.scriptErrors = (previous ? previous + " | " : "") + String(message);
};
"""

# Counts the charts that actually laid out (non-empty box); run at the end of the body and again on load.
COUNT_SCRIPT = """
(function () {
  function count() {
    var rendered = 0;
    document.querySelectorAll("svg.chart").forEach(function (svg) {
      var box = svg.getBoundingClientRect();
      if (box.width > 0 && box.height > 0) { rendered += 1; }
    });
    document.body.dataset.chartsRendered = String(rendered);
  }
  count();
  window.addEventListener("load", count);
})();
"""
