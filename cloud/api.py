"""The batch API and dashboard over HTTP: the only module that imports starlette.

Thin by design: parse the request, ask the results source, hand values to the pure renderers
in cloud/web/ and cloud/passport.py. Every route but the OpenAPI document, the schema, the
stylesheet and /healthz needs a token: `Authorization: Bearer <token>` for programs, or the
session cookie the login form (or `?token=` once, for links) sets for browsers. The cookie holds
an HMAC of the token, not the token, and no token is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cloud.influx import InfluxError
from cloud.passport import Basis, passport
from cloud.web import tables
from cloud.web.batch_pages import batch_page, batches_page
from cloud.web.layout import page
from cloud.web.openapi import openapi_document
from cloud.web.query import QueryError, aggregate_key, batch_filter, month_bounds
from cloud.web.source import BatchFilter, ResultsSource
from cloud.web.summary_pages import login_page, plant_page, product_page
from cloud.web.zerowaste import zero_waste

log = logging.getLogger("batchmeter.api")
STATIC = Path(__file__).parent / "web" / "static"
COOKIE = "batchmeter_session"
Handler = Callable[[Request], Awaitable[Response]]
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Tokens:
    """The accepted bearer tokens, compared in constant time."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = [t.encode() for t in tokens if t]
        self._sessions = [self.session_of(t) for t in tokens if t]

    @staticmethod
    def session_of(token: str) -> str:
        return hmac.new(token.encode(), b"batchmeter-session-v1", hashlib.sha256).hexdigest()

    def valid_token(self, candidate: str) -> bool:
        # compare against every token, so the time taken does not tell which one nearly matched
        hits = [hmac.compare_digest(candidate.encode(), t) for t in self._tokens]
        return any(hits)

    def valid_session(self, candidate: str) -> bool:
        hits = [hmac.compare_digest(candidate.encode(), s.encode()) for s in self._sessions]
        return any(hits)

    def allows(self, request: Request) -> bool:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credential:
            return self.valid_token(credential.strip())
        return self.valid_session(request.cookies.get(COOKIE, ""))


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k != "token"}


def _wants_csv(request: Request) -> bool:
    chosen = request.query_params.get("format", "")
    return chosen == "csv" or (not chosen and "text/csv" in request.headers.get("accept", ""))


def _rows_response(request: Request, rows: list[dict[str, Any]], name: str,
                   columns: Sequence[str] | None = None) -> Response:
    if _wants_csv(request):
        headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
        return Response(tables.to_csv(rows, columns), media_type="text/csv; charset=utf-8", headers=headers)
    return JSONResponse(rows)


class Api:
    """Routes bound to one results source and one token set."""

    def __init__(self, source: ResultsSource, tokens: Tokens, secure_cookies: bool) -> None:
        self.source = source
        self.tokens = tokens
        self.secure_cookies = secure_cookies

    # --- API ---------------------------------------------------------------------------------
    async def batches(self, request: Request) -> Response:
        results = await self.source.list_batches(batch_filter(_params(request)))
        rows = [tables.batch_row(r) for r in results]
        return _rows_response(request, rows, "batches", tables.BATCH_COLUMNS)

    async def batch(self, request: Request) -> Response:
        result = await self.source.get_batch(request.path_params["batch_id"])
        if result is None:
            raise HTTPException(404, "no such batch")
        return JSONResponse(result.model_dump(mode="json"))

    async def power(self, request: Request) -> Response:
        result = await self.source.get_batch(request.path_params["batch_id"])
        if result is None:
            raise HTTPException(404, "no such batch")
        curve = await self.source.power_curve(result)
        rows = tables.power_rows(curve)
        columns = ["meter", "ts_ms", "time", curve.quantity]
        return _rows_response(request, rows, f"power-{result.batch_id}", columns)

    async def aggregates(self, request: Request) -> Response:
        params = _params(request)
        items = await self.source.aggregates(aggregate_key(params), batch_filter(params))
        return _rows_response(request, [tables.aggregate_row(a) for a in items], "aggregates")

    async def zero_waste(self, request: Request) -> Response:
        month = await self._month(request)
        status = zero_waste(month, await self._month_batches(month))
        return JSONResponse({**asdict(status), "energy_recovery_share": status.energy_recovery_share})

    async def passport(self, request: Request) -> Response:
        params = _params(request)
        product = params.get("product", "")
        if not product:
            raise QueryError("product: required")
        basis = params.get("basis", "location")
        if basis not in ("location", "market"):
            raise QueryError(f"basis: expected location or market, got {basis!r}")
        query = batch_filter(params)
        results = await self.source.list_batches(query)
        if not results:
            raise HTTPException(404, "no batches of this product in the period")
        start = query.from_ms if query.from_ms is not None else min(r.start_ms for r in results)
        end = query.to_ms if query.to_ms is not None else max(r.end_ms for r in results)
        chosen: Basis = "market" if basis == "market" else "location"
        return JSONResponse(passport(product, start, end, results, chosen))

    # --- dashboard ---------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        params = _params(request)
        everything = await self.source.list_batches(BatchFilter())
        results = await self.source.list_batches(batch_filter(params, to_day_inclusive=True))
        lines = sorted({r.line for r in everything})
        products = sorted({r.product for r in everything})
        return HTMLResponse(batches_page(results, params, lines, products))

    async def batch_html(self, request: Request) -> Response:
        result = await self.source.get_batch(request.path_params["batch_id"])
        if result is None:
            raise HTTPException(404, "no such batch")
        return HTMLResponse(batch_page(result, await self.source.power_curve(result)))

    async def product_html(self, request: Request) -> Response:
        query = BatchFilter(product=request.path_params["product"])
        results = await self.source.list_batches(query)
        if not results:
            raise HTTPException(404, "no batches of this product")
        months = await self.source.aggregates("month", query)
        return HTMLResponse(product_page(query.product or "", results, months))

    async def plant_html(self, request: Request) -> Response:
        month = await self._month(request)
        months = [a.key for a in await self.source.aggregates("month", BatchFilter())]
        return HTMLResponse(plant_page(zero_waste(month, await self._month_batches(month)), months))

    async def _month(self, request: Request) -> str:
        month = request.query_params.get("month", "")
        if month:
            month_bounds(month)
            return month
        months = await self.source.aggregates("month", BatchFilter())
        return months[-1].key if months else "1970-01"

    async def _month_batches(self, month: str) -> list[Any]:
        start, end = month_bounds(month)
        return await self.source.list_batches(BatchFilter(from_ms=start, to_ms=end))

    # --- session -----------------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        return HTMLResponse(login_page(next_path=_safe_next(request.query_params.get("next", "/"))))

    async def login(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
        token, next_path = form.get("token", ""), _safe_next(form.get("next", "/"))
        if not self.tokens.valid_token(token):
            log.warning("dashboard login refused from %s", request.client.host if request.client else "?")
            return HTMLResponse(login_page("That token is not valid.", next_path), status_code=401)
        return self._with_session(RedirectResponse(next_path, status_code=303), token)

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    def _with_session(self, response: Response, token: str) -> Response:
        response.set_cookie(COOKIE, Tokens.session_of(token), httponly=True, samesite="strict",
                            secure=self.secure_cookies, path="/")
        return response

    def guard(self, handler: Handler, *, html: bool) -> Handler:
        async def guarded(request: Request) -> Response:
            token = request.query_params.get("token")
            if html and token is not None and self.tokens.valid_token(token):
                # a link carrying ?token= logs the browser in once; the token leaves the URL
                rest = urlencode(_params(request))
                target = request.url.path + (f"?{rest}" if rest else "")
                return self._with_session(RedirectResponse(target, status_code=303), token)
            if not self.tokens.allows(request):
                if html:
                    login = "/login?" + urlencode({"next": request.url.path})
                    return RedirectResponse(login, status_code=303)
                return JSONResponse({"error": "missing or invalid bearer token"}, status_code=401,
                                    headers={"WWW-Authenticate": 'Bearer realm="batchmeter"'})
            return await handler(request)

        return guarded


def _safe_next(path: str) -> str:
    """Only same-site paths, so the login form cannot be used to redirect elsewhere."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi_document("1"))


async def _schema(request: Request) -> Response:
    return Response((STATIC / "passport.schema.json").read_bytes(), media_type="application/schema+json")


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _query_error(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": str(exc)}, status_code=400)
    return HTMLResponse(page("Bad request", f'<p class="error">{escape(str(exc))}</p>'), status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    body = f'<p class="error">{escape(exc.detail)}</p>'
    return HTMLResponse(page(f"Error {exc.status_code}", body), status_code=exc.status_code)


async def _store_error(request: Request, exc: Exception) -> Response:
    # the detail may name internal hosts; it goes to the log, the client learns only the kind
    log.error("results store failed on %s: %s", request.url.path, exc)
    return JSONResponse({"error": "results store unavailable"}, status_code=503)


def create_app(source: ResultsSource, tokens: Sequence[str], *, secure_cookies: bool = False) -> Starlette:
    """The ASGI app serving API and dashboard from `source`, accepting `tokens`."""
    api = Api(source, Tokens(tokens), secure_cookies)

    def route(path: str, handler: Handler, *, html: bool = False) -> Route:
        return Route(path, api.guard(handler, html=html), methods=["GET"])

    routes = [
        Route("/api/openapi.json", _openapi), Route("/api/passport/schema.json", _schema),
        Route("/healthz", _health),
        route("/api/batches", api.batches), route("/api/batches/{batch_id}", api.batch),
        route("/api/batches/{batch_id}/power", api.power), route("/api/aggregates", api.aggregates),
        route("/api/zero-waste", api.zero_waste), route("/api/passport", api.passport),
        Route("/login", api.login_form, methods=["GET"]), Route("/login", api.login, methods=["POST"]),
        Route("/logout", api.logout, methods=["POST"]),
        route("/", api.home, html=True), route("/batches/{batch_id}", api.batch_html, html=True),
        route("/products/{product}", api.product_html, html=True), route("/plant", api.plant_html, html=True),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        QueryError: _query_error, HTTPException: _http_error, InfluxError: _store_error,
    }
    middleware = [Middleware(BaseHTTPMiddleware, dispatch=_headers_and_log)]
    return Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)


async def _headers_and_log(request: Request, call_next: Handler) -> Response:
    response = await call_next(request)
    response.headers.update(_HEADERS)
    # the path only: a query string may carry ?token=
    log.info("%s %s %s", request.method, request.url.path, response.status_code)
    return response
