"""CyTube-style links to media type and id, on the server and in the browser alike."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from domain.media_links import LinkProblem, parse_media_link

ROOT = Path(__file__).resolve().parents[2]
CASES = [
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42", "yt", "dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ?si=abc", "yt", "dQw4w9WgXcQ"),
    ("https://m.youtube.com/shorts/abcdefghijk", "yt", "abcdefghijk"),
    ("https://www.youtube.com/playlist?list=PL123", "yp", "PL123"),
    ("dQw4w9WgXcQ", "yt", "dQw4w9WgXcQ"),
    ("yt:dQw4w9WgXcQ", "yt", "dQw4w9WgXcQ"),
    ("https://vimeo.com/123456789", "vi", "123456789"),
    ("https://player.vimeo.com/video/123456789", "vi", "123456789"),
    ("https://www.dailymotion.com/video/x7abcde_some-title", "dm", "x7abcde"),
    ("https://dai.ly/x7abcde", "dm", "x7abcde"),
    ("https://www.twitch.tv/somechannel", "tw", "somechannel"),
    ("https://www.twitch.tv/videos/123456", "tv", "v123456"),
    ("https://clips.twitch.tv/FunnyClipName", "tc", "FunnyClipName"),
    ("https://www.twitch.tv/somechannel/clip/FunnyClipName", "tc", "FunnyClipName"),
    ("https://soundcloud.com/artist/track", "sc", "https://soundcloud.com/artist/track"),
    (
        "https://media.example.org/api/v1/media/cytube/abc.json?format=json",
        "cm",
        "https://media.example.org/api/v1/media/cytube/abc.json?format=json",
    ),
    ("https://files.example.org/clip.mp4", "fi", "https://files.example.org/clip.mp4"),
]
BAD = [
    "",
    "not a link",
    "http://files.example.org/clip.mp4",
    "https://example.org/page.html",
    "https://www.youtube.com/channel/UC123",
]


@pytest.mark.parametrize(("link", "kind", "media_id"), CASES)
def test_links_name_cytube_media(link: str, kind: str, media_id: str) -> None:
    parsed = parse_media_link(link)
    assert (parsed.media_type, parsed.media_id) == (kind, media_id)


@pytest.mark.parametrize("link", BAD)
def test_what_cytube_cannot_play_is_refused_in_words(link: str) -> None:
    with pytest.raises(LinkProblem) as problem:
        parse_media_link(link)
    assert str(problem.value).endswith(".")


@pytest.mark.skipif(shutil.which("node") is None, reason="no node to run the page's module")
def test_the_page_parses_links_exactly_as_the_server_does() -> None:
    module = ROOT / "entrypoints" / "static" / "js" / "media_link.js"
    links = [c[0] for c in CASES] + BAD
    script = (
        f"import {{ parseMediaLink }} from {json.dumps(module.as_uri())};\n"
        f"const links = {json.dumps(links)};\n"
        "console.log(JSON.stringify(links.map((l) => parseMediaLink(l))));\n"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True
    )
    browser = json.loads(out.stdout)
    for link, answer in zip(links, browser, strict=True):
        try:
            parsed = parse_media_link(link)
        except LinkProblem:
            assert "error" in answer, link
        else:
            assert answer == {"type": parsed.media_type, "id": parsed.media_id}, link
