"""`/schema` without the internet: Litestar's Swagger, Redoc, Elements and Scalar pages load
their scripts and fonts from CDNs, so none is served. `/schema` is a plain page rendered here
from the OpenAPI document (every operation, its summary, and where the JSON is), and
`/schema/openapi.json` is the document itself, for any viewer or client generator."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

_METHODS = ("get", "put", "post", "delete", "patch")


class OfflineSchemaPage(OpenAPIRenderPlugin):
    def __init__(self) -> None:
        super().__init__(path="/", favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        info = openapi_schema.get("info", {})
        rows = []
        for path, item in sorted(openapi_schema.get("paths", {}).items()):
            for method in _METHODS:
                op = item.get(method)
                if op is None:
                    continue
                tags = ", ".join(op.get("tags", []))
                rows.append(
                    f"<tr><td><code>{method.upper()}</code></td><td><code>{escape(path)}</code>"
                    f"</td><td>{escape(op.get('summary', ''))}</td><td>{escape(tags)}</td></tr>"
                )
        title = escape(str(info.get("title", "API")))
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main id="main" class="page"><h1>{title} API {escape(str(info.get("version", "")))}</h1>
<p>The OpenAPI document: <a href="/schema/openapi.json">/schema/openapi.json</a>
(and <a href="/schema/openapi.yaml">YAML</a>). This page works offline; open the JSON in any
OpenAPI viewer for more. Errors are <code>{{"error": {{"code", "message"}}}}</code>.</p>
<div class="table-wrap"><table class="data"><thead><tr><th>Method</th><th>Path</th>
<th>What it does</th><th>Tag</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>
</main></body></html>"""
        return page.encode("utf-8")
