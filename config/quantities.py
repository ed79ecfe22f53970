"""The quantities batchmeter knows, each with its canonical unit.

A profile maps a device's registers onto these names (scaling into the canonical unit),
so every meter model publishes `energy_import_kwh` in kWh whatever its register holds.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    COUNTER = "counter"
    """Cumulative, only ever increases except at rollover, reset or replacement."""
    GAUGE = "gauge"
    STATE = "state"
    """An enumerated code (line state, scrap category); published as its label."""
    IDENTIFIER = "identifier"
    EVENT_SEQ = "event_seq"
    """Increments once per discrete event (a weighing); the agent turns a change into an event."""


QUANTITIES: dict[str, tuple[str, Kind]] = {
    # electrical
    "power_w": ("W", Kind.GAUGE),
    "power_l1_w": ("W", Kind.GAUGE),
    "power_l2_w": ("W", Kind.GAUGE),
    "power_l3_w": ("W", Kind.GAUGE),
    "voltage_l1_v": ("V", Kind.GAUGE),
    "voltage_l2_v": ("V", Kind.GAUGE),
    "voltage_l3_v": ("V", Kind.GAUGE),
    "current_l1_a": ("A", Kind.GAUGE),
    "current_l2_a": ("A", Kind.GAUGE),
    "current_l3_a": ("A", Kind.GAUGE),
    "frequency_hz": ("Hz", Kind.GAUGE),
    "power_factor": ("1", Kind.GAUGE),
    "energy_import_kwh": ("kWh", Kind.COUNTER),
    "energy_export_kwh": ("kWh", Kind.COUNTER),
    "energy_total_kwh": ("kWh", Kind.COUNTER),
    # weighing
    "weight_gross_kg": ("kg", Kind.GAUGE),
    "weight_net_kg": ("kg", Kind.GAUGE),
    "scale_status": ("1", Kind.STATE),
    "scale_decimals": ("1", Kind.GAUGE),
    "weighing_seq": ("1", Kind.EVENT_SEQ),
    "ticket_net_kg": ("kg", Kind.GAUGE),
    "scrap_category": ("1", Kind.STATE),
    "scrap_destination": ("1", Kind.STATE),
    "ticket_line": ("1", Kind.IDENTIFIER),
    "ticket_batch_id": ("1", Kind.IDENTIFIER),
    # line controller
    "batch_id": ("1", Kind.IDENTIFIER),
    "product_code": ("1", Kind.IDENTIFIER),
    "line_state": ("1", Kind.STATE),
    "good_units": ("units", Kind.COUNTER),
    "reject_units": ("units", Kind.COUNTER),
}


def unit_of(quantity: str) -> str:
    return QUANTITIES[quantity][0]


def kind_of(quantity: str) -> Kind:
    return QUANTITIES[quantity][1]
