"""CyTube-style media links to (media type, media id), the way CyTube names media.

Written from CyTube's documented link forms (not its code): YouTube `yt`, Vimeo `vi`,
Dailymotion `dm`, Twitch streams `tw`, Twitch VODs `tv` and clips `tc`, SoundCloud `sc` (the
id is the whole URL), a custom manifest `cm` (a .json URL), a raw file `fi` (an https URL with
a media extension). `type:id` shorthands (`yt:abc`, `cm:https://...`) are taken as they are.
The same rules run in the browser (static/js/media_link.js); tests/unit check both agree.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qs, urlsplit

from attrs import frozen

RAW_EXTENSIONS: Final = ("mp4", "webm", "ogv", "ogg", "mp3", "m4a", "aac", "flac", "mov", "m4v")
_SHORTHAND = re.compile(r"^(yt|vi|dm|tw|tv|tc|sc|cm|fi|gd|yp):(.+)$")
_YT_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


@frozen
class ParsedLink:
    media_type: str
    media_id: str


class LinkProblem(ValueError):
    """Why a link names no media CyTube can play, in words."""


def parse_media_link(link: str) -> ParsedLink:
    text = link.strip()
    if not text:
        raise LinkProblem("Paste a link to a video or a song.")
    if len(text) > 1000:
        raise LinkProblem("That link is longer than 1,000 characters.")
    short = _SHORTHAND.match(text)
    if short and not text.startswith(("http://", "https://")):
        return ParsedLink(short[1], short[2])
    if not re.match(r"^https?://", text, re.I):
        if _YT_ID.match(text):
            return ParsedLink("yt", text)
        raise LinkProblem("That is not a link: it should start with https://.")
    parts = urlsplit(text)
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    path = parts.path
    query = parse_qs(parts.query)
    segments = [s for s in path.split("/") if s]
    if host in ("youtube.com", "music.youtube.com", "youtube-nocookie.com"):
        if segments[:1] == ["watch"] and query.get("v"):
            return ParsedLink("yt", query["v"][0])
        if len(segments) >= 2 and segments[0] in ("shorts", "embed", "live", "v"):
            return ParsedLink("yt", segments[1])
        if segments[:1] == ["playlist"] and query.get("list"):
            return ParsedLink("yp", query["list"][0])
        raise LinkProblem("That YouTube link names no video.")
    if host == "youtu.be" and segments:
        return ParsedLink("yt", segments[0])
    if host in ("vimeo.com", "player.vimeo.com"):
        ids = [s for s in segments if s.isdigit()]
        if ids:
            return ParsedLink("vi", ids[0])
        raise LinkProblem("That Vimeo link names no video.")
    if host == "dailymotion.com" and len(segments) >= 2 and segments[0] == "video":
        return ParsedLink("dm", segments[1].split("_")[0])
    if host == "dai.ly" and segments:
        return ParsedLink("dm", segments[0])
    if host == "clips.twitch.tv" and segments:
        return ParsedLink("tc", segments[0])
    if host == "twitch.tv" and segments:
        if len(segments) >= 2 and segments[0] == "videos" and segments[1].isdigit():
            return ParsedLink("tv", "v" + segments[1])
        if len(segments) >= 3 and segments[1] == "clip":
            return ParsedLink("tc", segments[2])
        return ParsedLink("tw", segments[0])
    if host == "soundcloud.com" and segments:
        return ParsedLink("sc", text)
    if path.lower().endswith(".json"):
        if parts.scheme.lower() != "https":
            raise LinkProblem("A custom manifest must be served over https.")
        return ParsedLink("cm", text)
    extension = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if extension in RAW_EXTENSIONS:
        if parts.scheme.lower() != "https":
            raise LinkProblem("A raw file must be served over https.")
        return ParsedLink("fi", text)
    raise LinkProblem(
        "This link is not one CyTube plays: use YouTube, Vimeo, Dailymotion, Twitch, "
        "SoundCloud, a .json manifest or a media file (" + ", ".join(RAW_EXTENSIONS) + ")."
    )
