"""Who is asking, and what they may do: a user name and one of three roles.

Every HTTP request and every NATS command carries a signed bearer token naming a user and a role.
An adapter verifies the token and yields an `Identity`; from then on the application only asks
`at_least(role)` or `may_act_for(user)`, and says no with `Unauthenticated` (no usable token: 401)
or `Forbidden` (a valid token whose role is not enough: 403).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from attrs import field, frozen

Role = Literal["viewer", "blessed", "admin"]

ROLES: Final[tuple[Role, ...]] = get_args(Role)
"""Every role, least to most powerful."""

_RANK: Final[dict[str, int]] = {role: rank for rank, role in enumerate(ROLES)}

USER_MAX_CHARS: Final = 100


def is_role(value: object) -> bool:
    return isinstance(value, str) and value in _RANK


def parse_role(value: str) -> Role:
    """`value` as a `Role`, or ValueError naming the roles there are."""
    for role in ROLES:
        if value == role:
            return role
    raise ValueError(f"unknown role {value!r}; roles are {', '.join(ROLES)}")


def user_problem(user: str) -> str | None:
    """Why `user` cannot name anyone, or None when it can."""
    if not user:
        return "the user name is empty"
    if len(user) > USER_MAX_CHARS:
        return f"the user name is longer than {USER_MAX_CHARS} characters"
    if not user.isprintable():
        return "the user name contains control or non-printable characters"
    if user != user.strip():
        return "the user name starts or ends with whitespace"
    return None


def _check_user(_: object, __: object, user: str) -> None:
    problem = user_problem(user)
    if problem is not None:
        raise ValueError(problem)


def _check_role(_: object, __: object, role: str) -> None:
    parse_role(role)


@frozen
class Identity:
    """A verified caller."""

    user: str = field(validator=_check_user)
    role: Role = field(validator=_check_role)

    def at_least(self, role: Role) -> bool:
        """True when this caller's role is `role` or above (admin > blessed > viewer)."""
        return _RANK[self.role] >= _RANK[role]

    def may_act_for(self, user: str) -> bool:
        """True when this caller may act on `user`'s behalf: it is them, or an admin."""
        return self.user == user or self.role == "admin"


class Unauthenticated(Exception):
    """No usable credentials: `missing_token`, `invalid_token`, `expired_token`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Forbidden(Exception):
    """Valid credentials that do not allow this: `insufficient_role`, `not_your_own`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _article(role: Role) -> str:
    return "an" if role[0] in "aeiou" else "a"


def require(identity: Identity, role: Role) -> None:
    """Raise `Forbidden` unless `identity` holds `role` or a role above it."""
    if not identity.at_least(role):
        above = " or above" if role != ROLES[-1] else ""
        raise Forbidden(
            "insufficient_role",
            f"This needs the {role} role{above}; {identity.user} is {_article(identity.role)} "
            f"{identity.role}.",
        )


def require_self_or_admin(identity: Identity, user: str) -> None:
    """Raise `Forbidden` unless `identity` may act for `user` (it is them, or an admin)."""
    if not identity.may_act_for(user):
        raise Forbidden(
            "not_your_own",
            f"Only {user} or an admin may do this; {identity.user} is {_article(identity.role)} "
            f"{identity.role}.",
        )
