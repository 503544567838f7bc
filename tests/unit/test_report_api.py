"""The report page's headers and the CSV's cells, without a history behind them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.auth import Tokens
from streams.history.api import HistoryApi
from streams.history.export import spreadsheet_safe


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+55 11 9999", "'+55 11 9999"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("ordinary text", "ordinary text"),
        (42, 42),
        (None, None),
    ],
)
def test_cells_starting_like_a_formula_are_quoted(cell: Any, shown: Any) -> None:
    assert spreadsheet_safe(cell) == shown


def test_the_page_and_the_api_send_the_security_headers() -> None:
    async def go() -> None:
        app = web.Application()
        HistoryApi(None, None, Tokens({}), None).routes(app)  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            for path, status in (("/", 200), ("/report.js", 200), ("/api/history", 401)):
                response = await client.get(path)
                assert response.status == status, path
                headers = response.headers
                csp = headers["Content-Security-Policy"]
                assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
                assert headers["X-Content-Type-Options"] == "nosniff"
                assert headers["X-Frame-Options"] == "DENY"
                assert headers["Referrer-Policy"] == "no-referrer"
            page = await (await client.get("/")).text()
            assert "<script>" not in page and "<style>" not in page  # all under the CSP

    asyncio.run(go())
