"""Likes: the service (like what plays now), the projection and its queries, the live count on
the queue's socket, and the channel's stats copied to a KV bucket (plays and likes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import define

from application.health import PartHealth
from application.likes.playing import QueueNowPlaying
from application.likes.projection import LikesProjection
from application.likes.queries import LikesQueries
from application.likes.rules import LikeRulesService
from application.likes.service import LikeService
from application.log.ports import EventStore
from application.stats.mirror import StatsBucket, StatsMirrorRunner
from entrypoints.wiring.kernel import Kernel
from entrypoints.wiring.parts import Background, Plain, ProjectionPart
from entrypoints.wiring.queue import Queue


@define
class Likes(Plain):
    service: LikeService
    queries: LikesQueries
    projection: LikesProjection
    queue: Queue
    tail: EventStore
    mirror: StatsMirrorRunner | None = None

    def projections(self) -> Sequence[ProjectionPart]:
        return (ProjectionPart(self.projection, on_change=self._changed),)

    async def _changed(self, channels: set[str], position: int) -> None:
        """A batch of likes is folded: the queue's watchers see now-playing's new count."""
        for channel in channels:
            await self.queue.live.refresh(channel)

    def background(self) -> Sequence[Background]:
        rules = self.service.rules
        work = [Background("like-rules", lambda: rules.run(self.tail))]
        if self.mirror is not None:
            work.append(Background("stats-kv", self.mirror.run))
        return tuple(work)

    async def health(self) -> Mapping[str, PartHealth]:
        return {} if self.mirror is None else {"stats-kv": self.mirror.health}


def projections() -> list[LikesProjection]:  # a fresh one each call (rebuilds)
    return [LikesProjection()]


def wire_likes(kernel: Kernel, queue: Queue, bucket: StatsBucket | None) -> Likes:
    settings = kernel.settings
    now_playing = QueueNowPlaying(kernel.handler)
    (projection,) = projections()
    queue.queries.count_likes_with(projection.count)
    mirror = None
    if bucket is not None and settings.likes.kv_mirror:
        mirror = StatsMirrorRunner(kernel.tail, bucket, settings.channel)
    return Likes(
        service=LikeService(
            kernel.handler,
            now_playing,
            LikeRulesService(kernel.handler, settings.likes.rules()),
            settings.channel,
        ),
        queries=LikesQueries(kernel.read_models, kernel.clock, projection, now_playing),
        projection=projection,
        queue=queue,
        tail=kernel.tail,
        mirror=mirror,
    )
