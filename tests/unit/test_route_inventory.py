"""Every route the app really serves is in the inventory with an audience, faust's built-in pages included."""

from __future__ import annotations

import pytest

from streams.app import build
from streams.settings import Settings
from streams.web.routes import ROUTES, Audience


@pytest.fixture(scope="module")
def served() -> dict[str, set[str]]:
    """Route pattern -> methods, from the app's real aiohttp router once faust has mounted its blueprints."""
    rt = build(Settings())
    rt.app.web.init_server()
    out: dict[str, set[str]] = {}
    for resource in rt.app.web.web_app.router.resources():
        out.setdefault(resource.canonical, set()).update(r.method for r in resource)
    return out


def test_every_served_route_is_in_the_inventory(served):
    missing = sorted(set(served) - set(ROUTES))
    assert not missing, f"routes without an audience in streams/web/routes.py: {missing}"


def test_the_inventory_lists_no_route_that_is_not_served(served):
    assert not sorted(set(ROUTES) - set(served))


@pytest.mark.parametrize("path", ["/", "/table", "/table/{name}/", "/router", "/graph", "/stats"])
def test_fausts_pages_that_show_whole_tables_are_not_served(served, path):
    assert not any(p == path or p.startswith(path.rstrip("/") + "/") and path != "/" for p in served)


def test_only_the_form_its_files_the_login_page_and_health_are_public():
    # /report/status asks for the reporter's token in the form itself, like /report.
    public = sorted(p for p, a in ROUTES.items() if a is Audience.public)
    assert public == ["/dashboard/login", "/healthz", "/report", "/report/sent", "/report/status", "/static/ui/{name}"]
