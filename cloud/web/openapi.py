"""The API's OpenAPI 3.1 document, built from the result models' JSON Schemas (pure)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cloud.attribution.model import Aggregate, BatchResult
from cloud.web.tables import BATCH_COLUMNS

_REF = "#/components/schemas/{model}"
_FILTERS = [
    ("line", "Only batches of this line"),
    ("product", "Only batches of this product (battery model)"),
    ("from", "Batch start at or after: epoch ms, YYYY-MM-DD or ISO 8601 (UTC)"),
    ("to", "Batch start before: epoch ms, YYYY-MM-DD or ISO 8601 (UTC)"),
    ("alarms", "true: only batches with alarms; false: only batches without"),
]
_FORMAT = {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]},
           "description": "csv: the same rows as CSV (also chosen by `Accept: text/csv`)"}


def _param(name: str, description: str, where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": {"type": "string"},
            "description": description}


def _ok(schema: dict[str, Any], csv: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    return {
        "200": {"description": "OK", "content": content},
        "400": {"description": "A query parameter is invalid; the body names it"},
        "401": {"description": "No or wrong bearer token"},
    }


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    model: type[BaseModel]
    for model in (BatchResult, Aggregate):
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["BatchRow"] = {"type": "object", "properties": {c: {} for c in BATCH_COLUMNS}}
    schemas["PowerPoint"] = {"type": "object", "properties": {
        "meter": {"type": "string"}, "ts_ms": {"type": "integer"}, "time": {"type": "string"},
        "power_w": {"type": "number"},
    }}
    return schemas


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _list(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _paths() -> dict[str, Any]:
    filters = [_param(n, d) for n, d in _FILTERS]
    batch_id = _param("batch_id", "The line controller's batch id", "path")
    return {
        "/api/batches": {"get": {"summary": "Batches, filtered; ordered by start", "parameters": [
            *filters, _FORMAT], "responses": _ok(_list("BatchRow"), csv=True)}},
        "/api/batches/{batch_id}": {"get": {"summary": "One batch in full", "parameters": [batch_id],
                                            "responses": _ok(_ref("BatchResult"))}},
        "/api/batches/{batch_id}/power": {"get": {
            "summary": "Power of the batch's own meters over its window", "parameters": [batch_id, _FORMAT],
            "responses": _ok(_list("PowerPoint"), csv=True)}},
        "/api/aggregates": {"get": {"summary": "Sums per product, line, UTC day or UTC month", "parameters": [
            {"name": "by", "in": "query", "schema": {"enum": ["product", "line", "day", "month"]}},
            *filters, _FORMAT], "responses": _ok(_list("Aggregate"), csv=True)}},
        "/api/zero-waste": {"get": {"summary": "A UTC month's diversion rates and UL 2799 tier",
                                    "parameters": [_param("month", "YYYY-MM")],
                                    "responses": _ok({"type": "object"})}},
        "/api/passport": {"get": {
            "summary": "CarbonFootprintForBatteries export for one battery model and period",
            "parameters": [_param("product", "Battery model"), _param("from", "Period start"),
                           _param("to", "Period end"), {"name": "basis", "in": "query",
                                                        "schema": {"enum": ["location", "market"]}}],
            "responses": _ok({"$ref": "/api/passport/schema.json"})}},
        "/api/passport/schema.json": {"get": {"summary": "JSON Schema of the passport export",
                                              "responses": _ok({"type": "object"})}},
    }


def openapi_document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "batchmeter batch API", "version": version,
                 "description": "Read-only access to per-batch energy, CO2e and scrap results."},
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": _paths(),
    }
