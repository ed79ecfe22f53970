"""Server-side SVG charts: well-formed, scaled into the frame, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from cloud.svg import bar_chart, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def _points(svg: str) -> list[tuple[float, float]]:
    root = ET.fromstring(svg)
    line = root.find(f"{SVG}polyline")
    assert line is not None
    return [(float(x), float(y)) for x, y in (p.split(",") for p in line.attrib["points"].split())]


def test_line_chart_is_well_formed_and_stays_inside_its_frame() -> None:
    svg = line_chart({"m1": [(0, 0.0), (1000, 50.0), (2000, 100.0)]}, title="P", y_unit="W",
                     width=400, height=200)
    points = _points(svg)
    assert len(points) == 3
    assert all(0 <= x <= 400 and 0 <= y <= 200 for x, y in points)
    assert points[0][0] < points[1][0] < points[2][0]
    assert points[0][1] > points[2][1], "a larger value is drawn higher"


def test_text_from_data_is_escaped() -> None:
    svg = bar_chart([("<script>alert(1)</script>", 3.0)], title="a & b", unit="kg")
    assert "<script>" not in svg
    ET.fromstring(svg)


def test_no_data_draws_a_placeholder_not_an_error() -> None:
    assert "no data" in line_chart({}, title="t", y_unit="W")
    assert "no data" in bar_chart([], title="t", unit="kg")


def test_bar_lengths_are_proportional_and_negative_values_draw_nothing() -> None:
    root = ET.fromstring(bar_chart([("a", 10.0), ("b", 5.0), ("c", -1.0)], title="t", unit="kg"))
    widths = [float(r.attrib["width"]) for r in root.iter(f"{SVG}rect") if r.attrib.get("class") == "bar"]
    assert widths[0] == 2 * widths[1]
    assert widths[2] == 0


@given(st.floats(-1e9, 1e9), st.floats(0, 1e9))
def test_ticks_cover_the_range(low: float, span: float) -> None:
    ticks = nice_ticks(low, low + span)
    assert ticks[0] <= low
    assert ticks[-1] >= low + span or span == 0
    assert ticks == sorted(ticks)
