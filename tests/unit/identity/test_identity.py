"""Who may do what: roles in order, acting for someone, and the readable refusals."""

from __future__ import annotations

import attrs
import pytest

from application.identity.roles import (
    ROLES,
    Forbidden,
    Identity,
    Unauthenticated,
    parse_role,
    require,
    require_self_or_admin,
    user_problem,
)

VIEWER = Identity("vic", "viewer")
BLESSED = Identity("bea", "blessed")
ADMIN = Identity("ada", "admin")


def test_roles_are_ordered_least_to_most_powerful() -> None:
    assert ROLES == ("viewer", "blessed", "admin")


@pytest.mark.parametrize(
    ("who", "role", "expected"),
    [
        (VIEWER, "viewer", True),
        (VIEWER, "blessed", False),
        (VIEWER, "admin", False),
        (BLESSED, "viewer", True),
        (BLESSED, "blessed", True),
        (BLESSED, "admin", False),
        (ADMIN, "viewer", True),
        (ADMIN, "blessed", True),
        (ADMIN, "admin", True),
    ],
)
def test_at_least(who: Identity, role: str, expected: bool) -> None:
    assert who.at_least(role) is expected  # type: ignore[arg-type]


def test_may_act_for_self_or_as_admin_only() -> None:
    assert VIEWER.may_act_for("vic")
    assert not VIEWER.may_act_for("bea")
    assert not BLESSED.may_act_for("vic")
    assert ADMIN.may_act_for("vic")
    assert ADMIN.may_act_for("ada")
    assert not VIEWER.may_act_for("Vic"), "names are compared exactly"


def test_require_passes_at_or_above_the_role() -> None:
    require(ADMIN, "admin")
    require(ADMIN, "viewer")
    require(BLESSED, "blessed")
    require(VIEWER, "viewer")


def test_require_names_the_role_needed_and_the_callers() -> None:
    with pytest.raises(Forbidden) as raised:
        require(VIEWER, "admin")
    assert raised.value.code == "insufficient_role"
    assert raised.value.message == "This needs the admin role; vic is a viewer."

    with pytest.raises(Forbidden) as raised:
        require(VIEWER, "blessed")
    assert raised.value.message == "This needs the blessed role or above; vic is a viewer."

    with pytest.raises(Forbidden) as raised:
        require(BLESSED, "admin")
    assert "bea is a blessed" in raised.value.message


def test_require_self_or_admin() -> None:
    require_self_or_admin(VIEWER, "vic")
    require_self_or_admin(ADMIN, "vic")
    with pytest.raises(Forbidden) as raised:
        require_self_or_admin(BLESSED, "vic")
    assert raised.value.code == "not_your_own"
    assert "Only vic or an admin" in raised.value.message


def test_identity_is_frozen_and_compares_by_value() -> None:
    assert Identity("vic", "viewer") == VIEWER
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        VIEWER.role = "admin"  # type: ignore[misc]


@pytest.mark.parametrize("user", ["", " vic", "vic ", "a" * 101, "vi\nc", "vi\x00c", "\u200b"])
def test_identity_refuses_unusable_user_names(user: str) -> None:
    assert user_problem(user) is not None
    with pytest.raises(ValueError):
        Identity(user, "viewer")


@pytest.mark.parametrize("user", ["v", "a" * 100, "Zoë", "名前", "two words", "x-y_z.1"])
def test_identity_accepts_reasonable_user_names(user: str) -> None:
    assert user_problem(user) is None
    assert Identity(user, "viewer").user == user


def test_identity_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="roles are viewer, blessed, admin"):
        Identity("vic", "owner")  # type: ignore[arg-type]


def test_parse_role() -> None:
    assert parse_role("blessed") == "blessed"
    with pytest.raises(ValueError, match="unknown role 'Admin'"):
        parse_role("Admin")


def test_exceptions_carry_code_and_message() -> None:
    exc = Unauthenticated("expired_token", "The token expired.")
    assert (exc.code, exc.message) == ("expired_token", "The token expired.")
    assert "expired_token" in str(exc)
    forbidden = Forbidden("insufficient_role", "No.")
    assert (forbidden.code, forbidden.message) == ("insufficient_role", "No.")
