"""A demo playlist for the simulated channel, so `webqueue serve` has a queue that moves.

Titles and ids are made up; every id says "fake" or "demo" so none is mistaken for real media.
Lengths vary from short clips to one feature over an hour, so ETAs and promo cadence have
something to chew on.
"""

from __future__ import annotations

from adapters.sim.channel import SimulatedChannel
from domain.media import Media

DEMO_PLAYLIST: tuple[Media, ...] = (
    Media("yt", "fakeDemo001", "Morning Lo-fi for Rubber Ducks", 3 * 60 + 12),
    Media("yt", "fakeDemo002", "Ten Minutes of Rain on a Tin Roof", 10 * 60),
    Media("vi", "900000001", "The Lighthouse Keeper's Cat (short film)", 14 * 60 + 40),
    Media("yt", "fakeDemo003", "How Not to Solder: A Cautionary Tale", 4 * 60 + 51),
    Media("dm", "xfakedemo4", "Synthwave Sunset Drive", 2 * 60 + 47),
    Media("yt", "fakeDemo005", "Documentary: The Secret Life of Vending Machines", 44 * 60 + 5),
    Media("sc", "demo-artist/fake-track-6", "Cassette Dreams (live set)", 23 * 60 + 18),
    Media("yt", "fakeDemo007", "Cooking With Only a Kettle", 7 * 60 + 33),
    Media("vi", "900000008", "Paper Boats (animated)", 5 * 60 + 2),
    Media("yt", "fakeDemo009", "Speedrun: Office Chair Across the Atrium", 3 * 60 + 58),
    Media("dm", "xfakedemo10", "Pub Quiz Night, Episode 12", 21 * 60 + 44),
    Media("yt", "fakeDemo011", "Feature: The Long Afternoon (1974, restored)", 97 * 60),
)


async def seed_demo(channel: SimulatedChannel, *, queued_by: str = "") -> int:
    """Fill an empty channel with the demo playlist; a channel that has items keeps them.

    Returns how many items were added (0 for a restored channel that already had a playlist).
    """
    if channel.playlist():
        return 0
    for media in DEMO_PLAYLIST:
        await channel.add(media, "end", queued_by=queued_by)
    return len(DEMO_PLAYLIST)
