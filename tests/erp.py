"""The ERP's document server, as the worker fetches an NF-e XML from it: https on loopback.

``documents`` maps a path to the bytes served; ``oversized`` paths stream past any limit
without a Content-Length; ``redirects`` answer 302 to another host. ``requests`` records
every path asked for, so a test can assert that nothing was fetched.
"""

from __future__ import annotations

import ssl

from aiohttp import web


class ErpDocumentServer:
    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.documents: dict[str, bytes] = {}
        self.oversized: set[str] = set()
        self.redirects: dict[str, str] = {}
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append(path)
        if path in self.redirects:
            raise web.HTTPFound(self.redirects[path])
        if path in self.oversized:
            answer = web.StreamResponse(headers={"Content-Type": "application/xml"})
            await answer.prepare(request)
            for _ in range(64):  # 4 MiB, chunked: the client must stop reading by itself
                await answer.write(b"<x>" + b"0" * 65_530 + b"</x>")
            await answer.write_eof()
            return answer
        if path not in self.documents:
            return web.Response(status=404, text="not found")
        return web.Response(body=self.documents[path], content_type="application/xml")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.context)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return f"https://localhost:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
