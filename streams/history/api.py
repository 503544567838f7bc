"""The history process's JSON API (read side of ``status_send_history``)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from streams.history.resend import OPEN_ERRORS, Resender, Selection
from streams.history.store import HistoryStore
from streams.records import TERMINAL_OUTCOMES

MAX_LOOKUP = 10_000


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if k == "outcome_id" else v)
        for k, v in row.items()
    }


class HistoryApi:
    def __init__(self, store: HistoryStore, resender: Resender) -> None:
        self.store = store
        self.resender = resender

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/summary", self.summary)
        app.router.add_get("/api/history", self.history)
        app.router.add_post("/api/lookup", self.lookup)
        app.router.add_post("/api/resend", self.resend)
        app.router.add_get("/api/orders/{tenant}/{integration}/{order}", self.order_timeline)

    async def _query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.store.query, sql, params)

    async def summary(self, request: web.Request) -> web.Response:
        rows = await self._query(
            "SELECT outcome, count() AS rows, uniqExact(event_id) AS events "
            "FROM status_send_history GROUP BY outcome ORDER BY outcome"
        )
        total = await self._query(
            "SELECT count() AS rows, uniqExact(event_id) AS events FROM status_send_history"
        )
        return web.json_response({"by_outcome": rows, "total": total[0]})

    async def history(self, request: web.Request) -> web.Response:
        """Outcomes, newest first, filtered by ``tenant``, ``integration``, ``order``, ``outcome``."""
        filters = {
            "tenant": "tenant",
            "integration": "integration",
            "order": "platform_order_id",
            "outcome": "outcome",
        }
        clauses, params = [], {}
        for name, column in filters.items():
            if name in request.query:
                clauses.append(f"{column} = {{{name}:String}}")
                params[name] = request.query[name]
        try:
            limit = min(int(request.query.get("limit", "100")), 1000)
        except ValueError:
            raise web.HTTPBadRequest(text="limit: expected an integer") from None
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._query(
            f"SELECT * FROM status_send_history {where} ORDER BY decided_at DESC LIMIT {limit}",
            **params,
        )
        return web.json_response([_jsonable(r) for r in rows])

    async def lookup(self, request: web.Request) -> web.Response:
        """Latest outcome of each given event id: ``{"event_ids": [...]}``."""
        body = await request.json()
        ids = body.get("event_ids")
        if not isinstance(ids, list) or len(ids) > MAX_LOOKUP:
            raise web.HTTPBadRequest(text=f"event_ids: expected a list of at most {MAX_LOOKUP} ids")
        rows = await self._query(
            "SELECT event_id, argMax(outcome, decided_at) AS outcome, "
            "argMax(reason_code, decided_at) AS reason_code, count() AS outcomes "
            "FROM status_send_history WHERE event_id IN {ids:Array(String)} GROUP BY event_id",
            ids=[str(i) for i in ids],
        )
        terminal = {o.value for o in TERMINAL_OUTCOMES}
        return web.json_response(
            {
                "events": {r["event_id"]: r for r in rows},
                "terminal": sum(1 for r in rows if r["outcome"] in terminal),
            }
        )

    async def resend(self, request: web.Request) -> web.Response:
        """Resend events: ``{"event_ids": [...]}`` or filters, ``"dry_run": true`` to preview."""
        body = await request.json()
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        try:
            selection = Selection(
                event_ids=tuple(str(i) for i in body.get("event_ids") or ()),
                integration=body.get("integration"),
                order=body.get("order"),
                tenant=body.get("tenant"),
                outcomes=tuple(body.get("outcomes") or OPEN_ERRORS),
                reason=body.get("reason"),
                since=body.get("since"),
                until=body.get("until"),
                limit=int(body.get("limit", 1000)),
            )
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"bad resend request: {exc}") from None
        operator = str(body.get("operator") or "api")
        report = await asyncio.to_thread(
            self.resender.resend,
            selection,
            operator,
            bool(body.get("dry_run")),
            bool(body.get("force")),
        )
        return web.json_response(report.as_dict())

    async def order_timeline(self, request: web.Request) -> web.Response:
        info = request.match_info
        rows = await self._query(
            "SELECT * FROM status_send_history WHERE tenant = {t:String} AND integration = {i:String} "
            "AND platform_order_id = {o:String} ORDER BY decided_at, sequence",
            t=info["tenant"],
            i=info["integration"],
            o=info["order"],
        )
        return web.json_response([_jsonable(r) for r in rows])
