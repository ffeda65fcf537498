"""Saved playlists and promo pools over HTTP, against the running service."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import bearer, blessed

BASE = "/api/v1/channels/lobby"


def item(media_id: str, seconds: int = 30) -> dict[str, Any]:
    return {"media_type": "yt", "media_id": media_id, "title": media_id, "duration_sec": seconds}


async def shown(svc: Running, path: str, who: dict[str, str], want: Any) -> Any:
    """GET `path` until the projection has caught up with what `want` accepts."""

    async def check() -> tuple[Any] | None:
        r = await svc.http.get(path, headers=who)
        body = r.json() if r.status_code == 200 else None
        return (body,) if want(r.status_code, body) else None

    (body,) = await eventually(check, f"{path} to show the change", within=10)
    return body


async def test_playlists_and_pools_as_moderators_and_viewers_see_them(service: Running) -> None:
    await caught_up(service)
    mod, viewer = await blessed(service, "mod"), bearer(service, "ann", "viewer")

    made = await service.http.post(
        f"{BASE}/playlists",
        json={"name": " Friday ", "items": [item("f1", 600), item("f2", 300)]},
        headers=mod,
    )
    assert made.status_code == 201, made.text
    friday = made.json()
    assert (friday["name"], friday["item_count"], friday["total_duration_sec"]) == (
        "Friday",
        2,
        900,
    )
    pool = await service.http.post(
        f"{BASE}/playlists",
        json={"name": "VC", "items": [item("vc1"), item("vc2")], "promo_type": "viewers_choice"},
        headers=mod,
    )
    assert pool.status_code == 201, pool.text
    pool_id = pool.json()["playlist_id"]

    listed = await shown(
        service,
        f"{BASE}/playlists?include_hidden=true",
        mod,
        lambda _status, body: body is not None and len(body) == 2,
    )
    assert [p["name"] for p in listed] == ["Friday", "VC"]
    assert listed[1]["promo_type"] == "viewers_choice"
    for who in (viewer, mod):  # viewers never, moderators only when they ask
        public = await service.http.get(f"{BASE}/playlists?include_hidden=false", headers=who)
        assert [p["playlist_id"] for p in public.json()] == [friday["playlist_id"]]
    hidden = await service.http.get(f"{BASE}/playlists/{pool_id}", headers=viewer)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "unknown_playlist"
    detail = await service.http.get(f"{BASE}/playlists/{pool_id}", headers=mod)
    assert [i["media_id"] for i in detail.json()["items"]] == ["vc1", "vc2"]

    # Friday becomes a second viewers' choice pool. Pools unite playlists oldest first, so
    # Friday's items come first and VC's vc2 is not repeated.
    changed = await service.http.patch(
        f"{BASE}/playlists/{friday['playlist_id']}",
        json={
            "name": "Friday VC",
            "items": [item("vc2"), item("f3")],
            "promo_type": "viewers_choice",
        },
        headers=mod,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["promo_type"]) == ("Friday VC", "viewers_choice")

    def united(status: int, body: Any) -> bool:
        return status == 200 and len(body["pools"]["viewers_choice"]["playlists"]) == 2

    pools = await shown(service, f"{BASE}/promos/pools", mod, united)
    vc = pools["pools"]["viewers_choice"]
    assert vc["playlists"] == [friday["playlist_id"], pool_id]
    assert [i["media_id"] for i in vc["items"]] == ["vc2", "f3", "vc1"]
    assert pools["pools"]["feature_presentation"] == {"playlists": [], "items": []}
    assert (await service.http.get(f"{BASE}/promos/pools", headers=viewer)).status_code == 403
    public = await service.http.get(f"{BASE}/playlists", headers=viewer)
    assert public.json() == []

    gone = await service.http.delete(f"{BASE}/playlists/{pool_id}", headers=mod)
    assert gone.status_code == 204, gone.text
    await shown(service, f"{BASE}/playlists/{pool_id}", mod, lambda status, _body: status == 404)
    pools = await shown(
        service,
        f"{BASE}/promos/pools",
        mod,
        lambda status, body: (
            status == 200
            and body["pools"]["viewers_choice"]["playlists"] == [friday["playlist_id"]]
        ),
    )
    assert [i["media_id"] for i in pools["pools"]["viewers_choice"]["items"]] == ["vc2", "f3"]
    again = await service.http.delete(f"{BASE}/playlists/{pool_id}", headers=mod)
    assert again.status_code == 404

    health = (await service.http.get("/health")).json()
    assert "playlists" in health["projections"]


async def test_bad_requests_and_who_may_write(service: Running) -> None:
    await caught_up(service)
    mod, viewer = await blessed(service, "mod"), bearer(service, "ann", "viewer")

    anonymous = await service.http.post(f"{BASE}/playlists", json={"name": "X"})
    assert anonymous.status_code == 401
    refused = await service.http.post(f"{BASE}/playlists", json={"name": "X"}, headers=viewer)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_role"

    for body in (
        {"name": "X", "colour": "red"},
        {"name": "X", "promo_type": "trailer"},
        {"name": "X", "items": [{"media_type": "yt", "media_id": "a", "extra": 1}]},
        {"items": []},
    ):
        bad = await service.http.post(f"{BASE}/playlists", json=body, headers=mod)
        assert bad.status_code == 400, (body, bad.text)
        assert bad.json()["error"]["code"] == "invalid_request"

    dup = await service.http.post(
        f"{BASE}/playlists", json={"name": "X", "items": [item("a"), item("a")]}, headers=mod
    )
    assert dup.status_code == 422
    assert (
        dup.json()["error"]["code"] == "duplicate_media"
        and "yt:a" in dup.json()["error"]["message"]
    )
    blank = await service.http.post(f"{BASE}/playlists", json={"name": "   "}, headers=mod)
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "invalid_name"

    missing = "0" * 32
    for method in ("GET", "PATCH", "DELETE"):
        r = await service.http.request(
            method,
            f"{BASE}/playlists/{missing}",
            json={"name": "Y"} if method == "PATCH" else None,
            headers=mod,
        )
        assert r.status_code == 404, (method, r.text)
        assert r.json()["error"]["code"] == "unknown_playlist"

    made = await service.http.post(f"{BASE}/playlists", json={"name": "Mine"}, headers=mod)
    playlist_id = made.json()["playlist_id"]
    patched = await service.http.patch(
        f"{BASE}/playlists/{playlist_id}", json={"name": "Yours"}, headers=viewer
    )
    assert patched.status_code == 403
    unknown_field = await service.http.patch(
        f"{BASE}/playlists/{playlist_id}", json={"title": "Yours"}, headers=mod
    )
    assert unknown_field.status_code == 400
    flags = await service.http.patch(
        f"{BASE}/playlists/{playlist_id}", json={"is_immutable": True}, headers=mod
    )
    assert flags.status_code == 200
    assert (flags.json()["is_immutable"], flags.json()["promo_type"]) == (True, None)


async def test_names_versions_and_item_edits_over_http(service: Running) -> None:
    await caught_up(service)
    mod, eve = await blessed(service, "mod"), await blessed(service, "eve")
    made = await service.http.post(
        f"{BASE}/playlists",
        json={"name": "Late Show", "items": [item("l1"), item("l2")]},
        headers=mod,
    )
    assert made.status_code == 201, made.text
    show = made.json()
    assert show["created_by"] == "mod" and show["created_at"] and show["version"] == 2
    pid = show["playlist_id"]

    taken = await service.http.post(f"{BASE}/playlists", json={"name": "late  SHOW"}, headers=eve)
    assert taken.status_code == 409
    error = taken.json()["error"]
    assert error["code"] == "name_taken" and "'Late Show'" in error["message"]
    assert error["existing"] == {"playlist_id": pid, "name": "Late Show"}

    moved = await service.http.post(
        f"{BASE}/playlists/{pid}/items/move",
        json={"from_position": 1, "to_position": 0, "expected_version": 2},
        headers=mod,
    )
    assert moved.status_code == 200, moved.text
    assert [i["media_id"] for i in moved.json()["items"]] == ["l2", "l1"]
    stale = await service.http.patch(
        f"{BASE}/playlists/{pid}", json={"name": "Eve's", "expected_version": 2}, headers=eve
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
    assert stale.json()["error"]["current_version"] == 3

    added = await service.http.post(
        f"{BASE}/playlists/{pid}/items",
        json={"items": [item("l3")], "at": 1, "expected_version": 3},
        headers=eve,
    )
    assert [i["media_id"] for i in added.json()["items"]] == ["l2", "l3", "l1"]
    removed = await service.http.post(
        f"{BASE}/playlists/{pid}/items/remove", json={"positions": [0]}, headers=eve
    )
    assert [i["media_id"] for i in removed.json()["items"]] == ["l3", "l1"]
    bad = await service.http.post(
        f"{BASE}/playlists/{pid}/items", json={"items": [{"title": "no media"}]}, headers=eve
    )
    assert bad.status_code == 400
    unknown = await service.http.post(
        f"{BASE}/playlists/{pid}/items", json={"items": [{"catalog_id": "x1"}]}, headers=eve
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_catalog_item"

    copy = await service.http.post(f"{BASE}/playlists/{pid}/duplicate", json={}, headers=eve)
    assert copy.status_code == 201, copy.text
    assert copy.json()["name"] == "Late Show (copy)" and copy.json()["created_by"] == "eve"
    gone = await service.http.delete(
        f"{BASE}/playlists/{pid}", params={"expected_version": 1}, headers=mod
    )
    assert gone.status_code == 409
    gone = await service.http.delete(f"{BASE}/playlists/{pid}", headers=mod)
    assert gone.status_code == 204
    again = await service.http.post(f"{BASE}/playlists", json={"name": "late show"}, headers=mod)
    assert again.status_code == 201
