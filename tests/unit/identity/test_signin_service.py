"""Sign-in, sessions and roles as a whole, over an in-memory log with a driven clock: the code
reaches only the PM, a rotated secret still checks codes and CSRF tokens, and a role change or
a revoke counts from the very next request."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from attrs import frozen

from adapters.identity.hashing import HmacCodeHasher, HmacCsrf
from adapters.identity.tokens import TokenSigner
from adapters.log.memory_store import InMemoryEventStore
from application.identity.access import AccessService
from application.identity.blessed import BlessedService
from application.identity.credentials import Authenticator
from application.identity.facts import IdentityFacts
from application.identity.roles import Forbidden, Identity, Unauthenticated
from application.identity.rules import IdentityConfig
from application.identity.signin import CODE_ALPHABET, SignInService, new_code
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import presence_stream
from domain.errors import Rejected
from domain.presence.model import (
    ObservedUser,
    ObserveRankChanged,
    ObserveUserJoined,
    ObserveUserLeft,
    presence_decider,
)

T0 = datetime(2025, 3, 1, 20, 0, tzinfo=UTC)
OLD, NEW = b"o" * 32, b"n" * 32


@frozen
class Present:
    name: str


class Channel:
    """The CyTube port's users and PMs, as a fake of our own port."""

    def __init__(self) -> None:
        self.here: set[str] = set()
        self.pms: list[tuple[str, str]] = []
        self.down = False

    async def user(self, channel: str, name: str) -> Present | None:
        if self.down:
            raise ConnectionError("robot gone")
        return Present(name.lower()) if name.lower() in self.here else None

    async def pm(self, channel: str, to: str, message: str) -> None:
        self.pms.append((to, message))

    def code(self) -> str:
        found = re.search(r"code is (\w+)", self.pms[-1][1])
        assert found
        return found[1]


class Driven:
    """A clock that moves only when told (a fake of our Clock port)."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class World:
    def __init__(
        self, store: InMemoryEventStore, secret: bytes = OLD, previous: tuple[bytes, ...] = ()
    ) -> None:
        self.store = store
        self.clock = Driven(T0)
        self.handler = CommandHandler(store, self.clock)
        self.facts = IdentityFacts(store)
        self.channel = Channel()
        self.config = IdentityConfig(admins=("boss",), admin_rank=3)
        self.signer = TokenSigner(secret, previous=previous)
        self.csrf = HmacCsrf(secret, previous)
        self.hasher = HmacCodeHasher(secret, previous)
        self.signin = SignInService(
            self.handler, self.facts, self.channel, self.hasher, self.clock, self.config, "lobby"
        )
        self.auth = Authenticator(
            self.facts, self.signer, self.handler, self.clock, self.config, "lobby"
        )
        self.access = AccessService(self.handler, self.facts, self.clock, "lobby")
        self.blessed = BlessedService(self.handler, self.facts, "lobby")

    async def sign_in(self, name: str) -> str:
        self.channel.here.add(name.lower())
        await self.signin.request_code(name, "1.2.3.4")
        return (await self.signin.verify(name, self.channel.code(), "1.2.3.4", "pytest")).session_id

    def later(self, seconds: float) -> None:
        self.clock.advance(seconds)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = World(InMemoryEventStore())
    task = asyncio.create_task(w.facts.run())
    await w.facts.ready()
    yield w
    task.cancel()


def all_events(store: InMemoryEventStore) -> str:
    return repr([c for c in store._log])  # every commit, as it would be stored


def test_codes_are_8_symbols_without_look_alikes() -> None:
    assert not set("0O1IL") & set(CODE_ALPHABET)
    code = new_code()
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)


async def test_a_code_reaches_only_the_pm_and_signs_in_once(world: World) -> None:
    session_id = await world.sign_in("alice")
    code = world.channel.code()
    text = all_events(world.store)
    assert code not in text and session_id not in text
    assert "OtpRequested" in text and "OtpSent" in text and "OtpVerified" in text
    caller = await world.auth.from_session(session_id)
    assert caller.identity == Identity("alice", "viewer")
    with pytest.raises(Rejected) as again:
        await world.signin.verify("alice", code, "1.2.3.4", "pytest")
    assert again.value.code == "otp_used"


async def test_a_user_not_in_the_channel_gets_no_pm_and_is_told_why(world: World) -> None:
    with pytest.raises(Rejected) as refused:
        await world.signin.request_code("ghost", "1.2.3.4")
    assert (
        refused.value.code == "not_in_channel"
        and "PM only to someone in the channel" in refused.value.message
    )
    assert world.channel.pms == []
    assert "OtpSendFailed" in all_events(world.store)
    world.channel.down = True
    with pytest.raises(Rejected) as down:
        await world.signin.request_code("ghost", "1.2.3.4")
    assert down.value.code == "cytube_unavailable"


async def test_someone_asking_for_my_name_does_not_void_the_code_i_am_typing(
    world: World,
) -> None:
    world.channel.here.add("dana")
    await world.signin.request_code("dana", "1.2.3.4")
    mine = world.channel.code()
    await world.signin.request_code("dana", "203.0.113.9")  # someone else, elsewhere
    newer = world.channel.code()
    assert newer != mine
    signed = await world.signin.verify("dana", mine, "1.2.3.4", "pytest")
    assert signed.user == "dana"
    with pytest.raises(Rejected) as spent:  # one sign-in for the pair of codes
        await world.signin.verify("dana", newer, "1.2.3.4", "pytest")
    assert spent.value.code == "otp_used"


async def test_wrong_codes_then_lockout_and_the_address_is_counted(world: World) -> None:
    world.channel.here.add("bob")
    codes, messages = [], []
    for _ in range(2):
        await world.signin.request_code("bob", "5.6.7.8")
        for _ in range(3):
            with pytest.raises(Rejected) as wrong:
                await world.signin.verify("bob", "ZZZZZZZZ", "5.6.7.8", "x")
            codes.append(wrong.value.code)
            messages.append(wrong.value.message)
        world.later(60)
    assert codes[:3] == ["otp_wrong", "otp_wrong", "otp_exhausted"]
    # The try that locks says so, and no longer that tries are left.
    assert messages[4] == "That code is wrong. Too many wrong codes: bob is locked out for 15 min."
    assert codes[4:] == ["otp_locked", "otp_locked"]  # the fifth failure trips the lockout
    activity = world.facts.ip_activity("lobby", "5.6.7.8", world.clock.now(), world.config.otp)
    assert activity.requests == 2 and activity.failures == 5  # the refused sixth wrote nothing


async def test_no_code_requested_then_the_address_may_block_itself(world: World) -> None:
    with pytest.raises(Rejected) as refused:
        await world.signin.verify("carol", "ABCDEFGH", "9.9.9.9", "x")
    assert refused.value.code == "otp_not_requested" and "72 h" in refused.value.message
    with pytest.raises(Rejected) as nothing:
        await world.signin.block_ip("8.8.8.8")  # an address that made no such try
    assert nothing.value.code == "nothing_to_block"
    blocked = await world.signin.block_ip("9.9.9.9")
    assert blocked.until == world.clock.now() + timedelta(hours=72)
    world.channel.here.add("carol")
    with pytest.raises(Rejected) as asked:
        await world.signin.request_code("carol", "9.9.9.9")
    assert asked.value.code == "ip_blocked"
    await world.signin.request_code("carol", "1.1.1.1")  # another address still may
    admin = Identity("boss", "admin")
    await world.access.unblock_ip(admin, "9.9.9.9")
    await world.signin.request_code("carol", "9.9.9.9")


async def test_sessions_end_when_signed_out_idle_or_revoked(world: World) -> None:
    s1 = await world.sign_in("alice")
    world.later(60)
    s2 = await world.sign_in("alice")
    me = (await world.auth.from_session(s1)).identity
    await world.access.sign_out(me, (await world.auth.from_session(s1)).session_hash)
    with pytest.raises(Unauthenticated):
        await world.auth.from_session(s1)
    assert (await world.auth.from_session(s2)).identity.user == "alice"
    await world.access.sign_out_everywhere(me)
    with pytest.raises(Unauthenticated):
        await world.auth.from_session(s2)
    s3 = await world.sign_in("alice")
    world.later(world.config.session_idle_sec + 1)
    with pytest.raises(Unauthenticated):
        await world.auth.from_session(s3)


async def test_an_admin_revoke_ends_sessions_and_tokens_at_once(world: World) -> None:
    session = await world.sign_in("alice")
    token, _ = world.signer.issue("alice", "viewer", now=world.clock.now())
    assert world.auth.from_token(token).user == "alice"
    with pytest.raises(Forbidden):
        await world.access.revoke_user(Identity("alice", "viewer"), "bob")
    world.later(1)
    await world.access.revoke_user(Identity("boss", "admin"), "alice")
    with pytest.raises(Unauthenticated):
        await world.auth.from_session(session)
    with pytest.raises(Unauthenticated) as revoked:
        world.auth.from_token(token)
    assert revoked.value.code == "revoked_token"
    fresh, _ = world.signer.issue("alice", "viewer", now=world.clock.now() + timedelta(seconds=2))
    world.later(5)
    assert world.auth.from_token(fresh).user == "alice"


async def test_one_token_is_revoked_alone(world: World) -> None:
    a, _ = world.signer.issue("alice", "viewer", now=world.clock.now())
    b, _ = world.signer.issue("alice", "viewer", now=world.clock.now())
    user, token_id, expires = world.auth.token_id(a)
    await world.access.revoke_token(Identity("alice", "viewer"), user, token_id, expires)
    with pytest.raises(Unauthenticated):
        world.auth.from_token(a)
    assert world.auth.from_token(b).user == "alice"


async def test_roles_come_from_the_facts_on_every_request(world: World) -> None:
    session = await world.sign_in("carol")
    token, _ = world.signer.issue("carol", "admin", now=world.clock.now())
    assert (await world.auth.from_session(session)).identity.role == "viewer"
    assert world.auth.from_token(token).role == "viewer"  # a token's role is only a ceiling
    admin = Identity("boss", "admin")
    with pytest.raises(Forbidden):
        await world.blessed.bless(Identity("carol", "viewer"), "carol")
    await world.blessed.bless(admin, "Carol")
    assert (await world.auth.from_session(session)).identity.role == "blessed"
    assert world.auth.from_token(token).role == "blessed"
    await world.blessed.unbless(admin, "carol")
    assert (await world.auth.from_session(session)).identity.role == "viewer"

    # a CyTube rank at the threshold makes an admin, while the rank holds
    async def presence(command: object) -> None:
        await world.handler.handle(
            presence_decider, presence_stream("lobby"), command, CommandMeta.new("cytube")
        )

    await presence(ObserveUserJoined(ObservedUser("carol", 3)))
    await asyncio.sleep(0.01)
    assert world.auth.from_token(token).role == "admin"
    assert world.auth.role_of("boss") == "admin"  # configured
    # CyTube lowers the rank (`setUserRank`, a UserRankChanged): the role follows it down.
    await presence(ObserveRankChanged("carol", 1))
    assert await role_becomes(world, token, "viewer") == "viewer"
    # A rank counts while its holder is in the channel: gone, CyTube reports none (a demotion
    # meanwhile would never be seen), so the admin rank goes with them.
    await presence(ObserveRankChanged("carol", 3))
    assert await role_becomes(world, token, "admin") == "admin"
    await presence(ObserveUserLeft("carol"))
    assert await role_becomes(world, token, "viewer") == "viewer"


async def role_becomes(world: World, token: str, role: str) -> str:
    """The token's role once the facts (folded from the log tail) show `role`, or after 5 s."""
    for _ in range(500):
        if world.auth.from_token(token).role == role:
            break
        await asyncio.sleep(0.01)
    return world.auth.from_token(token).role


async def test_a_rotated_secret_keeps_codes_sessions_and_tokens_working(world: World) -> None:
    session = await world.sign_in("alice")
    csrf_token = world.csrf.token(session)
    token, _ = world.signer.issue("alice", "viewer", now=world.clock.now())
    world.channel.here.add("bob")
    await world.signin.request_code("bob", "1.2.3.4")  # hashed with the old key
    code = world.channel.code()
    rotated = World(world.store, secret=NEW, previous=(OLD,))
    task = asyncio.create_task(rotated.facts.run())
    await rotated.facts.ready()
    rotated.clock = world.clock
    try:
        assert (await rotated.auth.from_session(session)).identity.user == "alice"
        assert rotated.csrf.check(session, csrf_token)
        assert rotated.auth.from_token(token).user == "alice"
        signed = await rotated.signin.verify("bob", code, "1.2.3.4", "x")
        assert signed.user == "bob"
        dropped = World(world.store, secret=NEW)
        assert not dropped.csrf.check(session, csrf_token)
        with pytest.raises(Unauthenticated):
            dropped.auth.from_token(token)
    finally:
        task.cancel()
