"""The web app's pages: server-rendered Jinja2 templates in one layout, with small ES modules
for what is live. One module per capability's pages; `layout` builds what every page shares.

Use `page_routes()` for the handlers, `TEMPLATES` for the app's template config and
`static_router()` for /static. docs/pages.md tells how to add a page.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from entrypoints.http.pages.admin import (
    admin_people_page,
    admin_schedules_page,
    admin_viewer_page,
)
from entrypoints.http.pages.catalog import admin_catalog_page, catalog_item_page, catalog_page
from entrypoints.http.pages.layout import theme_css
from entrypoints.http.pages.likes import top_page
from entrypoints.http.pages.me import me_page
from entrypoints.http.pages.playlists import playlists_page
from entrypoints.http.pages.queue import buy_page, queue_page
from entrypoints.http.pages.signin import signin_page


def _folder(name: str) -> Path:
    return Path(str(files("entrypoints").joinpath(name)))


TEMPLATES = TemplateConfig(directory=_folder("templates"), engine=JinjaTemplateEngine)


def static_router() -> Any:
    return create_static_files_router(path="/static", directories=[_folder("static")])


def page_routes() -> list[Any]:
    return [
        queue_page,
        buy_page,
        catalog_page,
        catalog_item_page,
        admin_catalog_page,
        me_page,
        top_page,
        playlists_page,
        signin_page,
        admin_viewer_page,
        admin_people_page,
        admin_schedules_page,
        theme_css,
        static_router(),
    ]
