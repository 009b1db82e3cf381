"""render_html: the page's structure, its charts' data, escaping and self-containment."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from tests.support.report_sample import (
    BUCKETS,
    BUNDLE,
    HOSTILE,
    MIRROR_A,
    MIRROR_B,
    empty_report,
    sample_report,
)
from unstall.observe.report_html import render_html
from unstall.observe.report_model import Report
from unstall.observe.svg_charts import NO_DATA, Line, Point, Stack, bar_chart, line_chart

VOID = {"meta", "br", "link", "img", "input", "hr", "wbr", "source"}
SECTIONS = {
    "upstreams": "Upstreams",
    "charts": "Charts",
    "errors": "Top error groups",
    "slowest": "Slowest artifacts",
    "stages": "Stages",
    "fleet": "Fleet runs",
    "doctor": "Doctor sources",
}
CHARTS = ("latency", "groups", "phases", "fleet")


@dataclass
class Node:
    """One element of the parsed page."""

    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    content: list[Node | str] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.walk()
            if n.tag == tag and all(n.attrs.get(k) == v for k, v in attrs.items())
        ]

    def find(self, tag: str, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.content)

    def has_class(self, name: str) -> bool:
        return name in self.attrs.get("class", "").split()


class _TreeBuilder(HTMLParser):
    """Builds a tree and fails on any end tag that does not close the open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        self.stack[-1].content.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        self.stack[-1].content.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].content.append(data)


def parse(page: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements at the end of the page"
    assert builder.doctype.lower() == "doctype html"
    return builder.root


def figure(root: Node, key: str) -> Node:
    return root.find("figure", **{"data-chart": key})


def series(root: Node, key: str) -> dict[str, Node]:
    return {
        g.attrs["data-series"]: g
        for g in figure(root, key).walk()
        if g.tag == "g" and g.has_class("series")
    }


@pytest.fixture(scope="module")
def report() -> Report:
    return sample_report()


@pytest.fixture(scope="module")
def root(report: Report) -> Node:
    return parse(render_html(report))


def test_page_is_well_formed_with_every_section_and_chart(root: Node) -> None:
    assert root.find("h1").text() == "unstall report"
    for key, title in SECTIONS.items():
        assert root.find("section", id=key).find("h2").text() == title
    for key in CHARTS:
        fig = figure(root, key)
        assert len(fig.find_all("svg")) == 1, key
        assert NO_DATA not in fig.text()
    assert [a.attrs["href"] for a in root.find("nav").find_all("a")] == [
        f"#{key}" for key in ("upstreams", "charts", "errors", "slowest", "stages")
    ] + ["#fleet", "#doctor"]


def test_header_shows_the_window_generation_time_and_counts_in_utc(root: Node) -> None:
    header = root.find("header").text()
    assert "2024-05-31T12:00:00Z – 2024-06-01T12:00:00Z" in header
    assert "2024-06-01T12:00:05Z" in header
    for expected in ("57 runs", "2,300 attempts", "2,050 artifacts", "8 error groups"):
        assert expected in " ".join(header.split())


def test_upstream_table_shows_rates_percentiles_retries_hedges_and_breaker(root: Node) -> None:
    table = root.find("section", id="upstreams").find("table")
    rows = [[td.text() for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
    assert [row[0] for row in rows] == [MIRROR_A, MIRROR_B, BUNDLE]
    mirror_b = rows[1]
    # attempts, success, TTFB p50/p95/p99, total p50/p95/p99, retries, hedges, won, breaker
    assert mirror_b[1:] == [
        "800",
        "95.6% (35 failed)",
        "210",
        "630",
        "1,260",
        "900",
        "2,250",
        "4,500",
        "17",
        "20",
        "8",
        "1",
    ]


def test_latency_chart_draws_each_measured_bucket_and_marks_failures(
    root: Node, report: Report
) -> None:
    drawn = series(root, "latency")
    assert set(drawn) == {MIRROR_A, MIRROR_B, BUNDLE}
    for name, points in report.latency_series.items():
        measured = [p for p in points if p.p95_ms is not None]
        coords = drawn[name].find("polyline").attrs["points"].split()
        assert len(coords) == len(measured) == len(drawn[name].find_all("circle"))
        markers = drawn[name].find_all("path")
        assert len(markers) == sum(1 for p in points if p.failed)
    # three buckets of mirror-b failed outright: no line point, but a marker each
    assert len(report.latency_series[MIRROR_B]) - 3 == int(drawn[MIRROR_B].attrs["data-points"])


def test_group_chart_stacks_the_top_six_groups_and_the_rest(root: Node, report: Report) -> None:
    drawn = series(root, "groups")
    totals = {gid: sum(p.count for p in pts) for gid, pts in report.group_series.items()}
    top = sorted(totals, key=lambda gid: -totals[gid])[:6]
    patterns = {g.group_id: g.pattern for g in report.groups}
    assert set(drawn) == {patterns[gid] for gid in top} | {"2 other groups"}
    columns = {p.at for pts in report.group_series.values() for p in pts}
    assert 0 < len(columns) <= BUCKETS
    for gid in top:
        assert len(drawn[patterns[gid]].find_all("rect")) == len(report.group_series[gid])
    tips = [t.text() for t in drawn[patterns[top[0]]].find_all("title")]
    assert all(re.match(r"2024-\d\d-\d\dT\d\d:00:00Z · GET <url>", tip) for tip in tips)


def test_phase_and_fleet_charts_draw_one_bar_per_nonzero_value(root: Node, report: Report) -> None:
    phases = series(root, "phases")
    assert list(phases) == ["connect", "tls", "first byte", "transfer"]
    assert sum(len(g.find_all("rect")) for g in phases.values()) == 4 + 4 + 2
    fleet = series(root, "fleet")
    assert list(fleet) == ["ok", "failed", "timeout", "unreachable"]
    expected = sum(1 for run in report.fleet_runs for n in run.states.values() if n)
    assert sum(len(g.find_all("rect")) for g in fleet.values()) == expected


def test_tables_list_groups_slowest_artifacts_stages_fleet_and_doctor(
    root: Node, report: Report
) -> None:
    def rows(key: str) -> list[Node]:
        return root.find("section", id=key).find("tbody").find_all("tr")

    first = rows("errors")[0].text()
    for text in ("i/o timeout #0", "tcp-timeout", "Fix for tcp-timeout.", "120 in all history"):
        assert text in first
    assert "hosts: build-0.fixture.test" in first
    assert len(rows("slowest")) == 10
    assert "failed" in rows("slowest")[-1].text()
    assert [r.find_all("td")[0].text() for r in rows("stages")] == [
        "connect",
        "tls",
        "first_byte",
        "transfer",
    ]
    assert "host-1.fixture.test failed (exit 1)" in rows("fleet")[2].text()
    # Only the hosts that did not end ok are listed: an all-ok run says so.
    assert "host-4.fixture.test" not in rows("fleet")[2].text()
    assert rows("fleet")[0].find_all("td")[-1].text() == "all ok"
    assert "tls-untrusted" in rows("doctor")[1].text()


def test_hostile_text_is_escaped_and_credentials_redacted() -> None:
    page = render_html(sample_report(hostile=True))
    root = parse(page)
    assert "<script" not in page.lower()
    assert not root.find_all("script")
    assert not [
        (n.tag, k) for n in root.walk() for k in n.attrs if k.startswith("on") or k == "src"
    ]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    # the escaped text still reads as the original where a user sees it
    assert HOSTILE in root.find("section", id="upstreams").text()
    assert MIRROR_B + HOSTILE in series(root, "latency")
    assert any(HOSTILE in name for name in series(root, "fleet"))
    assert "s3cret" not in page
    assert "https://***@proxy.example.test:3128" in root.find("section", id="errors").text()


def test_page_references_nothing_outside_itself(root: Node) -> None:
    page = render_html(sample_report(hostile=True))
    for node in parse(page).walk():
        for name, value in node.attrs.items():
            if name in {"href", "src", "xlink:href", "action", "srcset", "poster", "data"}:
                assert value.startswith("#"), (node.tag, name, value)
    assert not root.find_all("link")
    assert not root.find_all("img")
    style = root.find("style").text()
    assert "url(" not in style
    assert "@import" not in style
    # URLs from the data are there, as text
    assert MIRROR_A in root.find("section", id="doctor").text()


def test_an_empty_window_shows_no_data_instead_of_charts() -> None:
    root = parse(render_html(empty_report()))
    for key in CHARTS:
        fig = figure(root, key)
        assert not fig.find_all("svg")
        assert fig.find("p").text() == NO_DATA
    for key in ("upstreams", "errors", "slowest", "stages", "fleet", "doctor"):
        assert root.find("section", id=key).find("tbody").text() == NO_DATA
    assert "0 attempts" in " ".join(root.find("header").text().split())


def _svg(markup: str) -> Node:
    return parse("<!DOCTYPE html>" + markup)


@pytest.mark.parametrize(
    "draw",
    [
        lambda: line_chart([Line("a", ())], title="t", x_domain=(0.0, 1.0), x_format=str),
        lambda: bar_chart(["x", "y"], [Stack("s", (0.0, 0.0))], title="t"),
        lambda: bar_chart([], [], title="t"),
    ],
)
def test_charts_with_nothing_to_draw_say_so(draw: Callable[[], str]) -> None:
    assert draw() == f'<p class="no-data">{NO_DATA}</p>'


def test_line_chart_axis_reaches_the_highest_value_and_labels_are_escaped() -> None:
    svg = _svg(
        line_chart(
            [Line("<b>a&b</b>", (Point(0, 10), Point(50, 730, "<i>n</i>"), Point(100, 5)))],
            title="x<y",
            x_domain=(0.0, 100.0),
            x_format=lambda v: f"t={v:g}",
        )
    )
    y_labels = [t.text() for t in svg.find("g", **{"class": "axis y-axis"}).find_all("text")]
    assert y_labels == ["0", "200", "400", "600", "800"]
    x_labels = [t.text() for t in svg.find("g", **{"class": "axis x-axis"}).find_all("text")]
    assert x_labels == ["t=0", "t=25", "t=50", "t=75", "t=100"]
    assert svg.find("g", **{"data-series": "<b>a&b</b>"}).find_all("title")[1].text() == "<i>n</i>"
    assert svg.find("svg").attrs["aria-label"] == "x<y"
    assert "<b>a&b</b>" in svg.find("g", **{"class": "legend"}).text()
    # the highest point sits on the top grid line (y 12), the lowest near the base (212)
    ys = [float(c.attrs["cy"]) for c in svg.find_all("circle")]
    assert ys[1] == pytest.approx(12 + 200 * (1 - 730 / 800), abs=0.1)
    assert max(ys) < 212
