"""`unstall report --html`: the page as Debian's headless Chromium shows it, offline.

The page is written to a file and opened from there; the browser must log no error, ask
the network for nothing, and draw every chart with real geometry (measured by the
browser's own layout, not by reading the markup).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Error, Page, Request, sync_playwright

from tests.support.report_sample import BUNDLE, MIRROR_A, MIRROR_B, empty_report, sample_report
from unstall.observe.report_html import render_html
from unstall.observe.report_model import Report

CHROMIUM = Path("/usr/bin/chromium")
# Nothing in the browser may reach out on its own: no updater, no sync, no QUIC probes.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECTIONS = (
    "Upstreams",
    "Charts",
    "Top error groups",
    "Slowest artifacts",
    "Stages",
    "Fleet runs",
    "Doctor sources",
)
MEASURE_CHARTS = """() => [...document.querySelectorAll('figure[data-chart]')].map(fig => {
  const svg = fig.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const drawn = el => { const b = el.getBBox(); return b.width > 0 && b.height > 0; };
  return {
    key: fig.dataset.chart,
    width: box.width,
    height: box.height,
    noData: fig.querySelector('.no-data')?.innerText ?? null,
    series: [...fig.querySelectorAll('g.series')].map(g => {
      const line = g.querySelector('polyline');
      return {
        name: g.dataset.series,
        points: line ? line.points.numberOfItems : 0,
        lineWidth: line ? line.getBBox().width : 0,
        circles: [...g.querySelectorAll('circle')].filter(drawn).length,
        markers: [...g.querySelectorAll('path.marker')].filter(drawn).length,
        bars: [...g.querySelectorAll('rect.bar')].filter(drawn).length,
      };
    }),
  };
})"""


@dataclass
class Opened:
    """A report page loaded from its file, with everything the browser reported."""

    page: Page
    url: str
    report: Report
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def charts(self) -> dict[str, dict[str, Any]]:
        measured = cast(list[dict[str, Any]], self.page.evaluate(MEASURE_CHARTS))
        return {chart["key"]: chart for chart in measured}


@pytest.fixture(scope="module")
def browser_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Opened]]:
    """The sample report, a hostile one and an empty one, each opened in its own tab."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run make test (it installs chromium)")
    folder = tmp_path_factory.mktemp("report")
    with (
        tempfile.TemporaryDirectory() as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 900},
        )
        try:
            opened = {}
            for name, report in (
                ("sample", sample_report()),
                ("hostile", sample_report(hostile=True)),
                ("empty", empty_report()),
            ):
                path = folder / f"{name}.html"
                path.write_text(render_html(report), encoding="utf-8")
                opened[name] = _open(context.new_page(), path, report)
            yield opened
        finally:
            context.close()


def _open(page: Page, path: Path, report: Report) -> Opened:
    result = Opened(page, path.as_uri(), report)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            result.console_errors.append(message.text)

    def on_error(error: Error) -> None:
        result.page_errors.append(str(error))

    def on_request(request: Request) -> None:
        result.requests.append(request.url)

    def on_dialog(dialog: Dialog) -> None:
        # an alert() from the data would mean markup in a name ran as script
        result.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("dialog", on_dialog)
    page.on("pageerror", on_error)
    page.on("request", on_request)
    page.goto(result.url, wait_until="load", timeout=60_000)
    return result


@pytest.mark.parametrize("name", ["sample", "hostile", "empty"])
def test_page_logs_no_errors_and_requests_nothing_but_itself(
    browser_pages: dict[str, Opened], name: str
) -> None:
    opened = browser_pages[name]
    assert opened.console_errors == []
    assert opened.page_errors == []
    assert opened.requests == [opened.url]
    assert opened.dialogs == []


def test_every_chart_is_drawn_with_all_its_data(browser_pages: dict[str, Opened]) -> None:
    opened = browser_pages["sample"]
    report = opened.report
    charts = opened.charts()
    assert set(charts) == {"latency", "groups", "phases", "fleet"}
    for key, chart in charts.items():
        assert chart["width"] > 300, key
        assert chart["height"] > 100, key
        assert chart["noData"] is None, key

    latency = {s["name"]: s for s in charts["latency"]["series"]}
    assert set(latency) == {MIRROR_A, MIRROR_B, BUNDLE}
    for name, points in report.latency_series.items():
        measured = sum(1 for p in points if p.p95_ms is not None)
        assert latency[name]["points"] == measured == latency[name]["circles"]
        assert latency[name]["lineWidth"] > 300
        assert latency[name]["markers"] == sum(1 for p in points if p.failed)

    totals = Counter({g: sum(p.count for p in pts) for g, pts in report.group_series.items()})
    top = [g for g, _ in totals.most_common(6)]
    rest_buckets = {p.at for g in totals if g not in top for p in report.group_series[g]}
    bars = sum(s["bars"] for s in charts["groups"]["series"])
    assert bars == sum(len(report.group_series[g]) for g in top) + len(rest_buckets)
    assert len(charts["groups"]["series"]) == 7

    assert [s["bars"] for s in charts["phases"]["series"]] == [2, 2, 3, 3]
    fleet = {s["name"]: s["bars"] for s in charts["fleet"]["series"]}
    states = Counter(state for run in report.fleet_runs for state, n in run.states.items() if n)
    assert fleet == dict(states)


def test_sections_are_visible_and_the_page_looks_right(
    browser_pages: dict[str, Opened], tmp_path: Path
) -> None:
    page = browser_pages["sample"].page
    for title in SECTIONS:
        assert page.get_by_role("heading", name=title, exact=True).is_visible(), title
    assert page.get_by_role("heading", name="unstall report").is_visible()
    rows = page.locator("#upstreams tbody tr")
    assert rows.count() == 3
    assert rows.nth(1).inner_text().split("\t")[:3] == [MIRROR_B, "800", "95.6% (35 failed)"]
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000


def test_an_empty_window_shows_the_no_data_note_for_every_chart(
    browser_pages: dict[str, Opened],
) -> None:
    charts = browser_pages["empty"].charts()
    assert {key: chart["noData"] for key, chart in charts.items()} == {
        key: "no data in this window" for key in ("latency", "groups", "phases", "fleet")
    }
    assert all(chart["width"] == 0 and chart["series"] == [] for chart in charts.values())


def test_printed_page_drops_the_navigation_and_keeps_the_charts(
    browser_pages: dict[str, Opened],
) -> None:
    page = browser_pages["sample"].page
    page.emulate_media(media="print")
    try:
        assert not page.locator("nav").is_visible()
        charts = browser_pages["sample"].charts()
        assert all(chart["width"] > 300 and chart["height"] > 100 for chart in charts.values())
    finally:
        page.emulate_media(media="screen")
