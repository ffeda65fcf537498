"""What every page shares: the channel's name and accent colour, who is signed in and the
sections they may use, the CSRF token, and the banners for locks and outages.

A page handler calls `await page(request, services, "template.html", "script", **extra)`; the
template extends `base.html` and uses the macros in `components.html`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from attrs import frozen
from litestar import Request, Response, get
from litestar.response import Template

from application.identity.credentials import SessionCaller
from application.identity.roles import ROLES, Role, Unauthenticated
from entrypoints.http.auth import SESSION_COOKIE
from entrypoints.http.params import ServicesDep
from entrypoints.services import Services


@frozen
class NavItem:
    href: str
    label: str
    role: Role | None  # the least role that sees it; None: everyone


NAV: tuple[NavItem, ...] = (
    NavItem("/", "Queue", None),
    NavItem("/catalog", "Catalog", "viewer"),
    NavItem("/buy", "Buy a slot", "viewer"),
    NavItem("/me", "My purchases", "viewer"),
    NavItem("/top", "Top", "viewer"),
    NavItem("/playlists", "Playlists", "viewer"),
    NavItem("/admin/people", "People", "admin"),
    NavItem("/admin/catalog", "Refresh", "admin"),
    NavItem("/admin/schedules", "Schedules", "admin"),
    NavItem("/admin", "Projections", "admin"),
)
"""The sections, in order. A new section is one line here (and its page)."""


@frozen
class Banner:
    """`kind`: lock, down, warn or info; the text says what is wrong and what still works."""

    kind: str
    text: str


_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


async def caller_of(request: Request[Any, Any, Any], services: Services) -> SessionCaller | None:
    """The signed-in person behind the session cookie, or None."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return await services.identity.authenticator.from_session(cookie)
    except Unauthenticated:
        return None


def _may(role: Role | None, caller: SessionCaller | None) -> bool:
    if role is None:
        return True
    return caller is not None and ROLES.index(caller.identity.role) >= ROLES.index(role)


async def banners(services: Services) -> list[Banner]:
    """Outages and the lock as the page is rendered; the page's script keeps them current."""
    found: list[Banner] = []
    if not services.kernel.log.nc.is_connected:
        found.append(
            Banner(
                "down",
                "The event log (NATS) cannot be reached: what you see may be out of date, and "
                "buying and cancelling are off until it is back.",
            )
        )
    for capability in services.capabilities:
        try:
            parts = await capability.health()
        except Exception:
            continue
        for name, part in parts.items():
            if name in ("cytube", "economy") and not part.ok:
                what = "CyTube" if name == "cytube" else "The economy"
                found.append(
                    Banner(
                        "down" if part.status == "down" else "warn",
                        f"{what} is {part.status}: {part.detail or 'no answer'}.",
                    )
                )
    found.extend(await _event_lock(services))
    return found


async def _event_lock(services: Services) -> list[Banner]:
    """A scheduled event's lock (the earlier web queue's lockout banner), on every page."""
    if services.schedules is None:
        return []
    try:
        status = await services.schedules.view.status(services.kernel.settings.channel)
    except Exception:
        return []
    lock = status.lock
    if lock is None:
        return []
    service = services.schedules.service

    def local(at: datetime) -> str:  # as common.js's wallTime: "Fri 20 Nov, 20:00 (Europe/Berlin)"
        t = at.astimezone(service.tz)
        return f"{t:%a} {t.day} {t:%b}, {t:%H:%M} ({service.config.time_zone})"

    if lock.get("kind") == "pre_fire":
        starts = datetime.fromisoformat(lock["fire_at"])
        return [
            Banner("lock", f'Pay-to-play is closed: "{lock["label"]}" starts at {local(starts)}.')
        ]
    end = lock.get("estimated_end_at")
    until = f" (until about {local(datetime.fromisoformat(end))})" if end else ""
    return [Banner("lock", f'Pay-to-play is closed while "{lock["label"]}" is on{until}.')]


async def page(
    request: Request[Any, Any, Any],
    services: Services,
    template: str,
    script: str,
    *,
    caller: SessionCaller | None = None,
    title: str = "",
    **extra: Any,
) -> Template:
    settings = services.kernel.settings
    if caller is None:
        caller = await caller_of(request, services)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    nav = [
        {"href": n.href, "label": n.label, "current": n.href == request.url.path}
        for n in NAV
        if _may(n.role, caller)
    ]
    context = {
        "site": {
            "channel": settings.channel,
            "title": settings.channel_title or settings.channel,
            "simulated": services.cytube.simulator is not None,
            "time_zone": settings.schedules.time_zone,
        },
        "me": None
        if caller is None
        else {"user": caller.identity.user, "role": caller.identity.role},
        "csrf": services.identity.csrf.token(cookie) if caller is not None else "",
        "nav": nav,
        "banners": await banners(services),
        "script": script,
        "title": title,
        **extra,
    }
    return Template(template_name=template, context=context)


@get("/theme.css", media_type="text/css", include_in_schema=False, cache_control=None)
async def theme_css(services: ServicesDep) -> Response[str]:
    """The configured accent colour, as CSS (a stylesheet, as the CSP allows no inline style)."""
    accent = services.kernel.settings.accent
    if not _COLOUR.fullmatch(accent):
        accent = "#2454c5"
    return Response(f":root {{ --accent: {accent}; }}\n", media_type="text/css")
