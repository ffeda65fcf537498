"""Liking what is playing now: any signed-in user (viewer and up), HTTP and NATS alike.

The queue aggregate says what plays (`NowPlaying`); the user's likes aggregate decides, with
the rules in effect now (`LikeRulesService`: an admin's last change, else the configuration's)
and the time from the command handler's clock.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import msgspec

from application.identity.roles import Identity, require
from application.likes.playing import NowPlaying
from application.likes.rules import LikeRulesService
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import likes_stream
from domain.likes.model import RULES_KEY, Like, Liked, LikeRules, likes_decider


class LikeReceipt(msgspec.Struct):
    """A like that counted: what was liked, when, and the log position that holds it."""

    item_id: str
    media_type: str
    media_id: str
    title: str
    user: str
    liked_at: datetime
    position: int


def user_key(user: str) -> str:
    """One user's likes stream whatever the case of their name (CyTube names are
    case-insensitive)."""
    return user.strip().lower()


class LikeService:
    def __init__(
        self,
        handler: CommandHandler,
        now_playing: NowPlaying,
        rules: LikeRulesService,
        channel: str,
    ) -> None:
        problem = rules.defaults.problem()
        if problem is not None:
            raise ValueError(problem)
        self._handler = handler
        self._now_playing = now_playing
        self.rules = rules
        self._channel = channel

    async def current_rules(self) -> LikeRules:
        return await self.rules.effective(self._channel)

    async def like(self, who: Identity, item_id: str | None = None) -> LikeReceipt:
        """Raises Rejected (`nothing_playing`, `not_playing`) or LikeRefused (`already_liked`,
        `like_rate_limited`, with when it clears); nothing is appended then."""
        require(who, "viewer")
        playing, rules = await asyncio.gather(
            self._now_playing.playing(self._channel), self.rules.effective(self._channel)
        )
        outcome = await self._handler.handle(
            likes_decider,
            likes_stream(self._channel, user_key(who.user)),
            Like(who.user, item_id, playing),
            CommandMeta.new(who.user),
            config={RULES_KEY: rules},
        )
        (event,) = outcome.events
        assert isinstance(event, Liked) and outcome.position is not None
        return LikeReceipt(
            item_id=event.item_id,
            media_type=event.media.type,
            media_id=event.media.id,
            title=event.media.title,
            user=event.user,
            liked_at=event.at,
            position=outcome.position,
        )
