"""`GET /metrics`: Prometheus' text exposition format, for a scraper (no token, like /health)."""

from __future__ import annotations

from litestar import MediaType, Response, get

from adapters.telemetry.prometheus import CONTENT_TYPE
from entrypoints.http.params import ServicesDep


@get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics_handler(services: ServicesDep) -> Response[bytes]:
    """Reads the state gauges that need the log and the read models, then renders everything."""
    await services.kernel.metrics.refresh()
    return Response(
        services.kernel.metrics.render(),
        media_type=MediaType.TEXT,
        # Set in full: Litestar would append its own charset to a text/* media type.
        headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"},
    )
