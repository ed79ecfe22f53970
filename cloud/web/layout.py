"""The dashboard's page shell and the small HTML helpers every page uses (pure).

Every value that came from data goes through `escape`; numbers are shown rounded but carry
their exact value in `data-value`, so tests and scripts can compare them with the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from urllib.parse import quote, urlencode

NAV = (("/", "Batches"), ("/plant", "Plant"))


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f} %"


def num_cell(field: str, value: float | None, digits: int = 2, percent: bool = False) -> str:
    shown = pct(value) if percent else fmt(value, digits)
    exact = "" if value is None else repr(float(value))
    return f'<td class="num" data-field="{escape(field)}" data-value="{exact}">{shown}</td>'


def text_cell(field: str, value: str) -> str:
    return f'<td data-field="{escape(field)}">{escape(value)}</td>'


def link(path: str, text: str, params: Mapping[str, str] | None = None) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f'<a href="{escape(path + query)}">{escape(text)}</a>'


def path_part(value: str) -> str:
    return quote(value, safe="")


def table(headers: Iterable[str], rows: Iterable[str], table_id: str = "") -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    ident = f' id="{escape(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def figure(ident: str, svg: str) -> str:
    """A chart with its title shown above it (the SVG's own <title> is only a tooltip)."""
    start = svg.find("<title>") + len("<title>")
    caption = svg[start:svg.find("</title>")] if start >= len("<title>") else ""
    return f'<figure class="chart" id="{escape(ident)}"><figcaption>{caption}</figcaption>{svg}</figure>'


def definition_list(items: Iterable[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def page(title: str, body: str, *, nav: bool = True) -> str:
    links = "".join(f'<a href="{href}">{label}</a>' for href, label in NAV) if nav else ""
    logout = '<form method="post" action="/logout"><button>Log out</button></form>' if nav else ""
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)} · batchmeter</title>"
        "<link rel=\"stylesheet\" href=\"/static/style.css\"></head><body>"
        f"<header><strong>batchmeter</strong><nav>{links}</nav>{logout}</header>"
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
