"""The product page, the plant page and the login page (pure HTML rendering)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from cloud.attribution.model import Aggregate, BatchResult
from cloud.svg import bar_chart, line_chart
from cloud.web.layout import definition_list, figure, link, num_cell, page, path_part, pct, table, text_cell
from cloud.web.tables import iso
from cloud.web.zerowaste import ZeroWaste


def per_unit(value: float, units: float | None) -> float | None:
    return value / units if units else None


def _product_row(r: BatchResult) -> str:
    batch = link(f"/batches/{path_part(r.batch_id)}", r.batch_id)
    return (
        f'<tr data-batch="{escape(r.batch_id)}"><td>{batch}</td>'
        f"{text_cell('start', iso(r.start_ms))}{text_cell('line', r.line)}"
        f"{num_cell('good_units', r.good_units, 0)}{num_cell('kwh_per_good_unit', r.kwh_per_good_unit, 4)}"
        f"{num_cell('co2e_location_per_unit', per_unit(r.co2e_kg_location, r.good_units), 4)}"
        f"{num_cell('co2e_market_per_unit', per_unit(r.co2e_kg_market, r.good_units), 4)}"
        f"{num_cell('kwh_per_cell_kwh', r.kwh_per_cell_kwh, 3)}</tr>"
    )


def _product_charts(results: Sequence[BatchResult]) -> str:
    energy = {"kWh per good unit": [
        (float(r.start_ms), r.kwh_per_good_unit) for r in results if r.kwh_per_good_unit is not None
    ]}
    co2e: dict[str, list[tuple[float, float]]] = {"location-based": [], "market-based": []}
    for r in results:
        if r.good_units:
            co2e["location-based"].append((float(r.start_ms), r.co2e_kg_location / r.good_units))
            co2e["market-based"].append((float(r.start_ms), r.co2e_kg_market / r.good_units))
    return (
        '<div class="charts">'
        + figure("specific-energy", line_chart(energy, title="Specific energy (kWh per good unit, "
                                                "line + shared) by batch start", y_unit="kWh/unit"))
        + figure("co2e-per-unit", line_chart(co2e, title="CO2e per good unit by batch start",
                                             y_unit="kg CO2e/unit"))
        + "</div>"
    )


def _aggregate_row(a: Aggregate) -> str:
    return (
        f"<tr>{text_cell('key', a.key)}<td>{a.batches}</td>{num_cell('energy_kwh', a.energy_kwh)}"
        f"{num_cell('shared_energy_kwh', a.shared_energy_kwh)}{num_cell('good_units', a.good_units, 0)}"
        f"{num_cell('kwh_per_good_unit', a.kwh_per_good_unit, 4)}"
        f"{num_cell('co2e_kg_location', a.co2e_kg_location)}{num_cell('co2e_kg_market', a.co2e_kg_market)}"
        f"{num_cell('diversion_rate', a.diversion_rate, percent=True)}</tr>"
    )


def aggregate_table(items: Sequence[Aggregate], table_id: str) -> str:
    headers = ["Period", "Batches", "Line kWh", "Shared kWh", "Good units", "kWh/unit",
               "CO2e loc. kg", "CO2e mkt. kg", "Diversion"]
    return table(headers, [_aggregate_row(a) for a in items], table_id)


def product_page(product: str, results: Sequence[BatchResult], months: Sequence[Aggregate]) -> str:
    headers = ["Batch", "Start (UTC)", "Line", "Good units", "kWh/unit", "CO2e loc. kg/unit",
               "CO2e mkt. kg/unit", "kWh per kWh cells"]
    passport = link("/api/passport", "Passport export (JSON)", {"product": product})
    body = (
        f"<p>{len(results)} batches · {passport}</p>" + _product_charts(results)
        + "<h2>By month</h2>" + aggregate_table(months, "months")
        + "<h2>Batches</h2>" + table(headers, [_product_row(r) for r in results], "product-batches")
    )
    return page(f"Product {product}", body)


def plant_page(status: ZeroWaste, months: Sequence[str]) -> str:
    choose = " · ".join(link("/plant", m, {"month": m}) for m in months) or "no batches yet"
    tier = status.tier or "no UL 2799 tier"
    true = "met" if status.true_threshold_met else "not met"
    facts = definition_list([
        ("Month", escape(status.period)),
        ("UL 2799 tier", f'<span class="tier" id="tier">{escape(tier)}</span>'),
        ("Diversion (UL 2799, incl. energy recovery)", f'<span id="rate">{pct(status.rate)}</span>'),
        ("Energy recovery share", pct(status.energy_recovery_share)),
        ("Diversion (TRUE, energy recovery not counted)",
         f'<span id="rate-true">{pct(status.rate_true)}</span>'),
        ("TRUE ≥ 90 % this month", f"{true} (certification looks at 12 months)"),
        ("Scrap weighed", f"{status.total_kg:,.1f} kg"),
    ])
    chart = bar_chart(sorted(status.by_destination_kg.items()), title="Scrap by destination", unit="kg")
    rules = (
        "<p>UL 2799 tiers: Silver 90–94 %, Gold 95–99 %, Platinum 100 %, with at least 90 % diverted "
        "by routes other than energy recovery. Percentages are floored, never rounded up.</p>"
    )
    body = f"<p>Months: {choose}</p>{facts}{figure('destinations', chart)}{rules}"
    return page("Plant: zero waste to landfill", body)


def login_page(error: str = "", next_path: str = "/") -> str:
    message = f'<p class="error">{escape(error)}</p>' if error else ""
    form = (
        f'<form class="login" method="post" action="/login">{message}'
        f'<input type="hidden" name="next" value="{escape(next_path)}">'
        '<label>API token <input type="password" name="token" id="token" autocomplete="off" required>'
        "</label> "
        '<button type="submit" id="login">Log in</button></form>'
    )
    return page("Log in", form, nav=False)
