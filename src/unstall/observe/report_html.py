"""`unstall report --html FILE`: the report as one self-contained HTML page.

The page carries its CSS inline and its charts as server-drawn SVG (see
:mod:`unstall.observe.svg_charts`), so it shows the same with no network, no script and on
paper. Every text from the history is redacted and escaped before it reaches the markup;
times are UTC ISO 8601.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from unstall.observe.report_charts import charts_section, fmt_ms, iso_utc
from unstall.observe.report_model import Percentiles, Report
from unstall.redact import redact

_CSS = """
:root{color-scheme:light}
body{font:14px/1.45 system-ui,sans-serif;color:#1a1a1a;background:#fff;margin:0}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .5em;
border-bottom:2px solid #ddd;padding-bottom:.2em}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}
dl.meta dt{color:#555}dl.meta dd{margin:0}
ul.counts{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:8px}
ul.counts li{border:1px solid #ccc;border-radius:4px;padding:4px 10px}
ul.counts b{font-size:1.2em}
nav a{margin-right:12px;color:#0058a3}
table{border-collapse:collapse;width:100%;margin:.4em 0 1em;font-size:.92em}
th,td{border:1px solid #d6d6d6;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
time{white-space:nowrap}code{font:12px/1.3 ui-monospace,monospace;word-break:break-all}
code.id{white-space:nowrap;word-break:normal}
.muted{color:#666}.bad{color:#b3261e;font-weight:600}
figure{margin:.6em 0 1.4em}figcaption{font-weight:600;margin-bottom:.3em}
svg.chart{width:100%;max-width:760px;height:auto;display:block;font:11px sans-serif}
svg.chart .grid{stroke:#e3e3e3}svg.chart .x-axis line{stroke:#888}
svg.chart text{fill:#333}.no-data{color:#666;font-style:italic;border:1px dashed #bbb;
padding:12px;max-width:736px}
@media print{nav{display:none}body{font-size:10pt}main{max-width:none;padding:0}
figure,tr{break-inside:avoid}h2{break-after:avoid}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def _t(text: str) -> str:
    """Text from the history, as markup: redacted (defence in depth), then escaped."""
    return escape(redact(text))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _opt(value: object) -> str:
    return "—" if value is None else escape(str(value))


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds:g} s"


def _when(ts: float | None) -> str:
    return f"<time>{iso_utc(ts)}</time>"


def _listing(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(_t(item) for item in items[:limit])
    more = len(items) - limit
    return shown + (f' <span class="muted">+{more} more</span>' if more > 0 else "")


def _table(head: str, rows: Iterable[Sequence[str]], columns: int, cls: str) -> str:
    """A table from a ready header row and cells that are already markup."""
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{columns}" class="no-data">no data in this window</td></tr>'
    return f'<table class="{cls}"><thead>{head}</thead><tbody>{body}</tbody></table>'


def _num(text: object) -> str:
    return f'<td class="num">{text}</td>'


def _td(text: str) -> str:
    return f"<td>{text}</td>"


def _header(report: Report) -> str:
    counts = (
        ("runs", report.runs),
        ("attempts", report.attempts),
        ("artifacts", report.artifacts),
        ("upstreams", len(report.upstreams)),
        ("error groups", len(report.groups)),
        ("fleet runs", len(report.fleet_runs)),
    )
    items = "".join(f"<li><b>{n:,}</b> {label}</li>" for label, n in counts)
    return (
        '<header id="summary"><h1>unstall report</h1><dl class="meta">'
        f"<dt>window</dt><dd><time>{iso_utc(report.since)}</time> – "
        f"<time>{iso_utc(report.until)}</time></dd>"
        f"<dt>generated</dt><dd><time>{iso_utc(report.generated)}</time></dd>"
        f"<dt>chart buckets</dt><dd>{_duration(report.bucket_seconds)}</dd></dl>"
        f'<ul class="counts">{items}</ul></header>'
        '<nav><a href="#upstreams">upstreams</a><a href="#charts">charts</a>'
        '<a href="#errors">error groups</a><a href="#slowest">slowest artifacts</a>'
        '<a href="#stages">stages</a><a href="#fleet">fleet runs</a>'
        '<a href="#doctor">doctor sources</a></nav>'
    )


def _percentiles(p: Percentiles) -> list[str]:
    return [_num(fmt_ms(p.p50)), _num(fmt_ms(p.p95)), _num(fmt_ms(p.p99))]


def _upstream_table(report: Report) -> str:
    head = (
        '<tr><th rowspan="2">upstream</th><th rowspan="2" class="num">attempts</th>'
        '<th rowspan="2" class="num">success</th><th colspan="3">TTFB ms</th>'
        '<th colspan="3">total ms</th><th rowspan="2" class="num">retries</th>'
        '<th rowspan="2" class="num">hedges</th><th rowspan="2" class="num">hedges won</th>'
        '<th rowspan="2" class="num">breaker openings</th></tr><tr>'
        + '<th class="num">p50</th><th class="num">p95</th><th class="num">p99</th>' * 2
        + "</tr>"
    )
    rows = [
        [
            _td(f"<code>{_t(u.upstream)}</code>"),
            _num(f"{u.attempts:,}"),
            _num(
                _pct(u.success_rate)
                + (f' <span class="bad">({u.failed:,} failed)</span>' if u.failed else "")
            ),
            *_percentiles(u.ttfb_ms),
            *_percentiles(u.total_ms),
            _num(u.retries),
            _num(u.hedges),
            _num(u.hedges_won),
            _num(f'<span class="bad">{u.breaker_openings}</span>' if u.breaker_openings else 0),
        ]
        for u in report.upstreams
    ]
    return _section("upstreams", "Upstreams", _table(head, rows, 13, "upstreams"))


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{title}</h2>{body}</section>'


def _group_table(report: Report) -> str:
    head = (
        '<tr><th class="num">#</th><th>pattern and example</th><th class="num">count</th>'
        "<th>cause and fix</th><th>seen (UTC)</th><th>touched</th></tr>"
    )
    rows = []
    for rank, g in enumerate(report.groups, 1):
        touched = [
            f"<b>{label}:</b> {_listing(items)}"
            for label, items in (
                ("commands", g.commands),
                ("upstreams", g.upstreams),
                ("hosts", g.hosts),
                ("modules", g.modules),
            )
            if items
        ]
        rows.append(
            [
                _num(rank),
                _td(
                    f"<code>{_t(g.pattern)}</code><br/>"
                    f'<span class="muted">e.g.</span> <code>{_t(g.example)}</code>'
                ),
                _num(
                    f'{g.count:,}<br/><span class="muted">{g.total_count:,} in all history</span>'
                ),
                _td(f"<b>{_t(g.cause)}</b> {_t(g.explanation)}<br/>Fix: {_t(g.fix)}"),
                _td(f"first {_when(g.first_seen)}<br/>last {_when(g.last_seen)}"),
                _td("<br/>".join(touched) or "—"),
            ]
        )
    return _section("errors", "Top error groups", _table(head, rows, 6, "groups"))


def _slowest_table(report: Report) -> str:
    head = (
        "<tr><th>artifact</th><th>kind</th><th>upstream</th><th>outcome</th>"
        '<th class="num">attempts</th><th class="num">duration ms</th><th>at (UTC)</th></tr>'
    )
    rows = [
        [
            _td(f"<code>{_t(a.artifact)}</code>"),
            _td(_t(a.kind)),
            _td(f"<code>{_t(a.upstream)}</code>" if a.upstream else "—"),
            _td(
                _t(a.outcome) if a.outcome == "ok" else f'<span class="bad">{_t(a.outcome)}</span>'
            ),
            _num(a.attempts),
            _num(fmt_ms(a.duration_ms)),
            _td(_when(a.at)),
        ]
        for a in report.slowest
    ]
    return _section("slowest", "Slowest artifacts", _table(head, rows, 7, "slowest"))


def _stage_table(report: Report) -> str:
    head = (
        '<tr><th>stage</th><th class="num">attempts</th><th class="num">average ms</th>'
        '<th class="num">timeouts</th><th>likely cause</th></tr>'
    )
    rows = [
        [
            _td(_t(s.stage)),
            _num(f"{s.attempts:,}"),
            _num(fmt_ms(s.avg_ms)),
            _num(_pct(s.timeout_share)),
            _td(f"<b>{_t(s.likely_cause)}</b> {_t(s.explanation)}" if s.likely_cause else "—"),
        ]
        for s in report.stages
    ]
    return _section("stages", "Stages", _table(head, rows, 5, "stages"))


def _fleet_table(report: Report) -> str:
    head = (
        "<tr><th>run</th><th>command</th><th>started – finished (UTC)</th>"
        '<th class="num">exit</th><th>states</th><th>hosts not ok</th></tr>'
    )
    rows = []
    for r in report.fleet_runs:
        states = ", ".join(f"{_t(k)} {v}" for k, v in sorted(r.states.items()) if v)
        # Hundreds of ok hosts say nothing the states column does not: list the others.
        hosts = ", ".join(
            f'{_t(h.host)} <span class="bad">{_t(h.state)}</span>'
            + (f" (exit {h.exit_code})" if h.exit_code else "")
            for h in r.hosts
            if h.state != "ok"
        )
        rows.append(
            [
                _td(f'<code class="id">{_t(r.run_id)}</code>'),
                _td(f"<code>{_t(r.command)}</code>"),
                _td(f"{_when(r.started)} – {_when(r.finished)}"),
                _num(_opt(r.exit_code)),
                _td(states or "—"),
                _td(hosts or "all ok"),
            ]
        )
    return _section("fleet", "Fleet runs", _table(head, rows, 6, "fleet"))


def _doctor_table(report: Report) -> str:
    head = (
        '<tr><th>source</th><th class="num">checks</th><th class="num">failed</th>'
        "<th>last verdict</th><th>last cause</th><th>last checked (UTC)</th></tr>"
    )
    rows = [
        [
            _td(f"<code>{_t(d.source)}</code>"),
            _num(d.checks),
            _num(f'<span class="bad">{d.failed}</span>' if d.failed else 0),
            _td(_t(d.last_verdict)),
            _td(_t(d.last_cause)),
            _td(_when(d.last_at)),
        ]
        for d in report.doctor
    ]
    return _section("doctor", "Doctor sources", _table(head, rows, 6, "doctor"))


def render_html(report: Report) -> str:
    """The whole report as one HTML document that needs no network and no script."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<title>unstall report {iso_utc(report.since)} – {iso_utc(report.until)}</title>"
        f"<style>{_CSS}</style></head><body><main>"
        + _header(report)
        + _upstream_table(report)
        + charts_section(report)
        + _group_table(report)
        + _slowest_table(report)
        + _stage_table(report)
        + _fleet_table(report)
        + _doctor_table(report)
        + "</main></body></html>\n"
    )


__all__ = ["render_html"]
