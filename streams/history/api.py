"""The history process's HTTP API and report page (read side of ``status_send_history``).

Every ``/api/`` route needs a bearer token (``streams.auth``); its tenant limits
what the caller reads and resends, and only operators resend. ``/``, ``/health`` and
``/metrics`` are open.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web

from streams.auth import PRINCIPAL, Tokens, api_middleware
from streams.errors import ConfigurationError
from streams.history import catalogue, export, health
from streams.history.backlog import BacklogView
from streams.history.report import FilterError, ReportFilters
from streams.history.resend import OPEN_ERRORS, Resender, Selection
from streams.history.store import HistoryStore
from streams.reasons import PT_BR, ReasonCode
from streams.records import TERMINAL_OUTCOMES

MAX_LOOKUP = 10_000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        # the history's times are UTC: they say so, and the page shows them in local time
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.isoformat(timespec="milliseconds")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is not None and not isinstance(value, str | int | float | bool):
        return str(value)
    return value


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(_jsonable(data), status=status)


@functools.cache
def _asset(name: str) -> str:
    return resources.files("streams.history").joinpath(name).read_text(encoding="utf-8")


# The page loads its own script and style and calls its own API, nothing else; no page of
# another site may frame it (a resend is one click) or learn its address from a referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # refusals carry them too
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


class HistoryApi:
    def __init__(
        self, store: HistoryStore, resender: Resender, tokens: Tokens, backlog: BacklogView
    ) -> None:
        self.store = store
        self.resender = resender
        self.tokens = tokens
        self.backlog = backlog

    def routes(self, app: web.Application) -> None:
        app.middlewares.append(security_headers)
        app.middlewares.append(api_middleware(self.tokens))
        app.router.add_get("/", self.page)
        # the ERP's order context menu opens one order's timeline (after the login)
        app.router.add_get("/pedido/{integration}/{order}", self.page)
        app.router.add_get("/report.js", self.asset)
        app.router.add_get("/report.css", self.asset)
        app.router.add_get("/api/me", self.me)
        app.router.add_get("/api/reasons", self.reasons)
        app.router.add_get("/api/catalogue", self.catalogue)
        app.router.add_get("/api/summary", self.summary)
        app.router.add_get("/api/backlog", self.store_backlog)
        app.router.add_get("/api/integration-health", self.integration_health)
        app.router.add_get("/api/history", self.history)
        app.router.add_get("/api/history.csv", self.history_csv)
        app.router.add_post("/api/lookup", self.lookup)
        app.router.add_post("/api/resend", self.resend)
        app.router.add_get("/api/orders/{tenant}/{integration}/{order}", self.order_timeline)
        app.router.add_get("/api/order", self.find_order)

    async def _query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.store.query, sql, params or {})

    # -- page --------------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=_asset("report.html"), content_type="text/html", charset="utf-8")

    async def asset(self, request: web.Request) -> web.Response:
        name = request.path.lstrip("/")
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return web.Response(text=_asset(name), content_type=kind, charset="utf-8")

    async def me(self, request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        return _json({"name": principal.name, "tenant": principal.tenant, "role": principal.role})

    async def catalogue(self, request: web.Request) -> web.Response:
        """The report's words in ``lang`` (pt or en): outcomes, event types, actions,
        reasons and the CSV's columns."""
        return _json(catalogue.catalogue(catalogue.language(request.query.get("lang"))))

    async def reasons(self, request: web.Request) -> web.Response:
        return _json({code.value: PT_BR[code] for code in ReasonCode})

    # -- reads -------------------------------------------------------------------------
    async def summary(self, request: web.Request) -> web.Response:
        scope = request[PRINCIPAL].scope()
        where = "WHERE tenant = {tenant:String}" if scope else ""
        params = {"tenant": scope} if scope else {}
        rows = await self._query(
            f"SELECT outcome, count() AS rows, uniqExact(event_id) AS events "
            f"FROM status_send_history {where} GROUP BY outcome ORDER BY outcome",
            params,
        )
        total = await self._query(
            f"SELECT count() AS rows, uniqExact(event_id) AS events FROM status_send_history {where}",
            params,
        )
        return _json({"by_outcome": rows, "total": total[0]})

    async def store_backlog(self, request: web.Request) -> web.Response:
        """Per store, what the workers have under way, waiting and parked right now."""
        return _json({"stores": self.backlog.by_store(request[PRINCIPAL].scope())})

    async def integration_health(self, request: web.Request) -> web.Response:
        """Per integration of the caller's tenant, for the period (``since``, ``until``;
        ``integration`` narrows it) and now: the "Saúde" tab."""
        filters = self._filters(request)
        period, open_errors, pending = await asyncio.gather(
            *(self._query(*query) for query in health.queries(filters).values())
        )
        backlog = [
            store
            for store in self.backlog.by_store(filters.tenant)
            if filters.integration in (None, store["integration_id"])
        ]
        rows = health.combine(period, open_errors, pending, backlog, time.time())
        return _json({"integrations": rows})

    def _filters(self, request: web.Request) -> ReportFilters:
        try:
            return ReportFilters.parse(dict(request.query), request[PRINCIPAL].scope())
        except FilterError as exc:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": str(exc)}), content_type="application/json"
            ) from None

    async def history(self, request: web.Request) -> web.Response:
        """One page of the report: ``tab``, filters, ``page``, ``page_size``; for
        Pendentes, how many per integration too."""
        filters = self._filters(request)
        (page_sql, params), (count_sql, _) = filters.page_query(), filters.count_query()
        queries = [self._query(page_sql, params), self._query(count_sql, params)]
        if filters.tab == "pendentes":
            queries.append(self._query(*filters.by_integration_query()))
        rows, total, *by_integration = await asyncio.gather(*queries)
        answer: dict[str, Any] = {
            "tab": filters.tab,
            "page": filters.page,
            "page_size": filters.page_size,
            "total": total[0]["total"],
            "rows": rows,
        }
        if by_integration:
            answer["by_integration"] = by_integration[0]
        return _json(answer)

    async def history_csv(self, request: web.Request) -> web.Response:
        """The same selection as the page, for a spreadsheet: ``lang`` (pt: ``;``, pt-BR
        texts and names) and ``tz`` (the zone its times are shown in)."""
        filters = self._filters(request)
        lang = catalogue.language(request.query.get("lang"))
        try:
            zone = export.zone(request.query.get("tz"))
        except export.ZoneError as exc:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": str(exc)}), content_type="application/json"
            ) from None
        rows = await self._query(*filters.csv_query())
        return web.Response(
            text=export.to_csv(rows, lang, zone),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="historico-{filters.tab}.csv"'},
        )

    async def lookup(self, request: web.Request) -> web.Response:
        """Latest outcome of each given event id: ``{"event_ids": [...]}``."""
        body = await request.json()
        ids = body.get("event_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or len(ids) > MAX_LOOKUP:
            raise web.HTTPBadRequest(text=f"event_ids: expected a list of at most {MAX_LOOKUP} ids")
        scope = request[PRINCIPAL].scope()
        params: dict[str, Any] = {"ids": [str(i) for i in ids]}
        tenant_clause = ""
        if scope:
            tenant_clause = " AND tenant = {tenant:String}"
            params["tenant"] = scope
        rows = await self._query(
            "SELECT event_id, argMax(outcome, decided_at) AS outcome, "
            "argMax(reason_code, decided_at) AS reason_code, count() AS outcomes "
            f"FROM status_send_history WHERE event_id IN {{ids:Array(String)}}{tenant_clause} "
            "GROUP BY event_id",
            params,
        )
        terminal = {o.value for o in TERMINAL_OUTCOMES}
        return _json(
            {
                "events": {r["event_id"]: r for r in rows},
                "terminal": sum(1 for r in rows if r["outcome"] in terminal),
            }
        )

    async def order_timeline(self, request: web.Request) -> web.Response:
        info = request.match_info
        if not request[PRINCIPAL].sees(info["tenant"]):
            raise web.HTTPNotFound(
                text='{"error": "no such order"}', content_type="application/json"
            )
        rows = await self._query(
            "SELECT * FROM order_timeline(tenant={t:String}, integration={i:String}, order={o:String})",
            {"t": info["tenant"], "i": info["integration"], "o": info["order"]},
        )
        return _json(rows)

    async def find_order(self, request: web.Request) -> web.Response:
        """One order's timeline by ``integration`` and ``order``, its ERP or platform id,
        within the caller's tenant: what ``/pedido/{integration}/{order}`` shows."""
        integration, order = request.query.get("integration"), request.query.get("order")
        if not integration or not order:
            raise web.HTTPBadRequest(
                text='{"error": "integration and order are required"}',
                content_type="application/json",
            )
        scope = request[PRINCIPAL].scope()
        rows = await self._query(
            "SELECT * FROM status_send_history WHERE integration = {i:String} "
            "AND (platform_order_id = {o:String} OR erp_order_id = {o:String}) "
            + ("AND tenant = {t:String} " if scope else "")
            + "ORDER BY decided_at, sequence LIMIT 10000",
            {"i": integration, "o": order} | ({"t": scope} if scope else {}),
        )
        return _json(rows)

    # -- resend ------------------------------------------------------------------------
    async def resend(self, request: web.Request) -> web.Response:
        """Resend events: ``{"event_ids": [...]}`` or filters, ``"dry_run": true`` to preview."""
        principal = request[PRINCIPAL]
        if not principal.can_resend:
            raise web.HTTPForbidden(
                text='{"error": "only operators may resend"}', content_type="application/json"
            )
        body = await request.json()
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        tenant = principal.scope() or body.get("tenant")
        try:
            selection = Selection(
                event_ids=tuple(str(i) for i in body.get("event_ids") or ()),
                integration=body.get("integration"),
                order=body.get("order"),
                tenant=tenant,
                outcomes=tuple(body.get("outcomes") or OPEN_ERRORS),
                reason=body.get("reason"),
                since=body.get("since"),
                until=body.get("until"),
                limit=int(body.get("limit", 1000)),
            )
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"bad resend request: {exc}") from None
        operator = f"{principal.name}" + (f" ({body['operator']})" if body.get("operator") else "")
        try:
            report = await asyncio.to_thread(
                self.resender.resend,
                selection,
                operator,
                bool(body.get("dry_run")),
                bool(body.get("force")),
            )
        except ConfigurationError as exc:  # no signing key: nothing was resent
            return _json({"error": str(exc)}, status=503)
        return _json(report.as_dict())
