"""The batch API's and dashboard's pure parts: results source, tables, pages, passport, OpenAPI.

Only cloud/api.py imports starlette; everything here takes values and returns values or text.
"""
