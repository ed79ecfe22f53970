"""The batch table and the batch page (pure HTML rendering)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from cloud.attribution.model import BatchResult
from cloud.svg import bar_chart, line_chart
from cloud.web.layout import definition_list, figure, link, num_cell, page, path_part, table, text_cell
from cloud.web.source import PowerCurve
from cloud.web.tables import iso

# (column key, header, digits; None: text)
TABLE_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("batch_id", "Batch", None), ("line", "Line", None), ("product", "Product", None),
    ("start_ms", "Start (UTC)", None), ("energy_kwh", "Line kWh", 2), ("shared_energy_kwh", "Shared kWh", 2),
    ("co2e_kg_location", "CO2e loc. kg", 2), ("co2e_kg_market", "CO2e mkt. kg", 2),
    ("good_units", "Good units", 0), ("kwh_per_good_unit", "kWh/unit", 3),
    ("scrap_total_kg", "Scrap kg", 2), ("diversion_rate", "Diversion", None),
    ("completeness", "Complete", None), ("alarms", "Alarms", None),
)
SORT_KEYS = frozenset(key for key, _, _ in TABLE_COLUMNS)


def sort_batches(results: Sequence[BatchResult], key: str, descending: bool) -> list[BatchResult]:
    """Sort by a table column; missing values always go last, whichever the direction."""
    if key not in SORT_KEYS:
        key = "start_ms"

    def value(r: BatchResult) -> object:
        raw = getattr(r, key)
        return len(raw) if isinstance(raw, list) else raw

    present = [r for r in results if value(r) is not None]
    missing = [r for r in results if value(r) is None]
    return sorted(present, key=lambda r: (value(r), r.batch_id), reverse=descending) + missing


def _row(r: BatchResult) -> str:
    cells = [f'<td data-field="batch_id">{link(f"/batches/{path_part(r.batch_id)}", r.batch_id)}</td>']
    cells += [text_cell("line", r.line), f'<td>{link(f"/products/{path_part(r.product)}", r.product)}</td>']
    cells.append(text_cell("start", iso(r.start_ms)))
    for key, _, digits in TABLE_COLUMNS[4:11]:
        cells.append(num_cell(key, getattr(r, key), digits or 0))
    cells.append(num_cell("diversion_rate", r.diversion_rate, percent=True))
    cells.append(num_cell("completeness", r.completeness, percent=True))
    cells.append(text_cell("alarms", str(len(r.alarms))))
    css = ' class="alarm"' if r.alarms else ""
    return f'<tr{css} data-batch="{escape(r.batch_id)}">{"".join(cells)}</tr>'


def _header(key: str, label: str, query: dict[str, str], sort: str, descending: bool) -> str:
    flip = "asc" if key == sort and descending else "desc"
    arrow = (" ▼" if descending else " ▲") if key == sort else ""
    return link("/", label + arrow, {**query, "sort": key, "dir": flip})


def _select(name: str, options: Sequence[str], chosen: str | None) -> str:
    items = ['<option value="">all</option>'] + [
        f'<option{" selected" if o == chosen else ""}>{escape(o)}</option>' for o in options
    ]
    return f'<label>{name}<select name="{name}">{"".join(items)}</select></label>'


def _filters(query: dict[str, str], lines: Sequence[str], products: Sequence[str]) -> str:
    alarms = query.get("alarms", "")
    alarm_options = "".join(
        f'<option value="{v}"{" selected" if v == alarms else ""}>{t}</option>'
        for v, t in (("", "all"), ("true", "with alarms"), ("false", "without alarms"))
    )
    return (
        '<form class="filters" method="get" action="/">'
        + _select("line", lines, query.get("line")) + _select("product", products, query.get("product"))
        + f'<label>from<input type="date" name="from" value="{escape(query.get("from", ""))}"></label>'
        + f'<label>to<input type="date" name="to" value="{escape(query.get("to", ""))}"></label>'
        + f'<label>alarms<select name="alarms">{alarm_options}</select></label>'
        + '<button type="submit">Filter</button></form>'
    )


def batches_page(
    results: Sequence[BatchResult], query: dict[str, str], lines: Sequence[str], products: Sequence[str],
) -> str:
    sort, descending = query.get("sort", "start_ms"), query.get("dir", "asc") == "desc"
    filters = {k: v for k, v in query.items() if k not in ("sort", "dir") and v}
    headers = [_header(key, label, filters, sort, descending) for key, label, _ in TABLE_COLUMNS]
    rows = [_row(r) for r in sort_batches(results, sort, descending)]
    csv_link = link("/api/batches", "CSV", {**filters, "format": "csv"})
    body = _filters(query, lines, products) + f"<p>{len(rows)} batches · {csv_link}</p>"
    return page("Batches", body + table(headers, rows, "batches"))


SUMMARY_ROWS: tuple[tuple[str, str, int], ...] = (
    ("energy_kwh", "Line meters, kWh", 3), ("shared_energy_kwh", "Shared loads, kWh", 3),
    ("co2e_kg_location", "CO2e location-based, kg", 3), ("co2e_kg_market", "CO2e market-based, kg", 3),
    ("good_units", "Good units", 0), ("reject_units", "Rejected units", 0),
    ("kwh_per_good_unit", "kWh per good unit", 4), ("kwh_per_cell_kwh", "kWh per kWh of cells", 3),
    ("scrap_total_kg", "Scrap, kg", 3), ("energy_recovery_kg", "Energy recovery, kg", 3),
)
RATE_ROWS = (
    ("diversion_rate", "Diversion (UL 2799)"), ("diversion_rate_true", "Diversion (TRUE)"),
    ("completeness", "Completeness"),
)


def _summary(r: BatchResult) -> str:
    rows = [
        f"<tr><th>{escape(label)}</th>{num_cell(key, getattr(r, key), digits)}</tr>"
        for key, label, digits in SUMMARY_ROWS
    ] + [
        f"<tr><th>{label}</th>{num_cell(key, getattr(r, key), percent=True)}</tr>" for key, label in RATE_ROWS
    ]
    return table(["Quantity", "Value"], rows, "summary")


def _charts(r: BatchResult, curve: PowerCurve) -> str:
    energy = [(f"line {m}", kwh) for m, kwh in sorted(r.energy_by_meter_kwh.items())]
    energy += [(f"shared {m}", kwh) for m, kwh in sorted(r.shared_by_meter_kwh.items())]
    if not r.shared_by_meter_kwh and r.shared_energy_kwh:
        energy.append(("shared (total)", r.shared_energy_kwh))
    series = {m: [(float(t), v) for t, v in pts] for m, pts in curve.series.items()}
    charts = (
        ("power-curve", line_chart(series, title=f"Power of {r.batch_id}'s line meters", y_unit=curve.unit)),
        ("energy-breakdown", bar_chart(energy, title="Energy: line meters vs shared", unit="kWh")),
        ("scrap-destination", bar_chart(sorted(r.scrap_by_destination_kg.items()),
                                        title="Scrap by destination", unit="kg")),
    )
    return '<div class="charts">' + "".join(figure(ident, svg) for ident, svg in charts) + "</div>"


def _details(r: BatchResult) -> str:
    scrap = [
        f"<tr>{text_cell('category', c)}{num_cell('kg', kg, 3)}</tr>" for c, kg in sorted(r.scrap_kg.items())
    ]
    meters = [
        f"<tr>{text_cell('meter', m)}{num_cell('share', c.share, percent=True)}"
        f"<td>{c.present}/{c.expected}</td>"
        f"<td>{escape('; '.join(f'{iso(g.from_ms)} – {iso(g.to_ms)}' for g in c.gaps)) or '–'}</td></tr>"
        for m, c in sorted(r.completeness_by_meter.items())
    ]
    breaks = [
        f"<tr>{text_cell('meter', d.meter)}<td>{iso(d.ts_ms)}</td>{text_cell('kind', d.kind)}"
        f"{num_cell('counted_kwh', d.counted_kwh, 3)}<td>{escape(d.detail)}</td></tr>"
        for d in r.discontinuities
    ]
    alarms = "".join(f"<li>{escape(a)}</li>" for a in r.alarms) or "<li>none</li>"
    return (
        "<h2>Scrap by category</h2>" + table(["Category", "kg"], scrap, "scrap")
        + "<h2>Completeness and gaps</h2>" + table(["Meter", "Share", "Readings", "Gaps"], meters, "gaps")
        + "<h2>Counter discontinuities</h2>" + table(["Meter", "Time", "Kind", "kWh", "Detail"], breaks)
        + f'<h2>Alarms</h2><ul id="alarms">{alarms}</ul>'
    )


def batch_page(r: BatchResult, curve: PowerCurve) -> str:
    versions = "; ".join(f"{k} {v}" for k, v in sorted(r.factor_sets.items())) or "–"
    facts = definition_list([
        ("Line", escape(r.line)), ("Product", link(f"/products/{path_part(r.product)}", r.product)),
        ("Window (UTC)", f"{iso(r.start_ms)} – {iso(r.end_ms)}"),
        ("Algorithm", escape(r.algorithm_version)), ("Factor sets", escape(versions)),
        ("Revision", str(r.revision)), ("Computed", iso(r.computed_at_ms)),
        ("API", link(f"/api/batches/{path_part(r.batch_id)}", "JSON")),
    ])
    body = facts + _charts(r, curve) + "<h2>Numbers</h2>" + _summary(r) + _details(r)
    return page(f"Batch {r.batch_id}", body)

