"""The HTML report: one self-contained page of charts and tables for people who would rather look."""

from hone.report.model import (
    BarItem,
    DropPanel,
    ErrorSlices,
    ImportancePanel,
    ReportData,
    SearchPanel,
    Table,
    TestPanel,
)
from hone.report.search_page import render_report, write_report

__all__ = [
    "BarItem",
    "DropPanel",
    "ErrorSlices",
    "ImportancePanel",
    "ReportData",
    "SearchPanel",
    "Table",
    "TestPanel",
    "render_report",
    "write_report",
]
