// CyTube-style media links as (media type, media id): the same rules as the server's
// domain/media_links.py (tests check they agree). Returns {type, id} or {error}.
const RAW = ["mp4", "webm", "ogv", "ogg", "mp3", "m4a", "aac", "flac", "mov", "m4v"];
const SHORTHAND = /^(yt|vi|dm|tw|tv|tc|sc|cm|fi|gd|yp):(.+)$/;

export function parseMediaLink(link) {
  const text = (link || "").trim();
  if (!text) return { error: "Paste a link to a video or a song." };
  if (text.length > 1000) return { error: "That link is longer than 1,000 characters." };
  const short = text.match(SHORTHAND);
  if (short && !/^https?:\/\//.test(text)) return { type: short[1], id: short[2] };
  if (!/^https?:\/\//i.test(text)) {
    if (/^[A-Za-z0-9_-]{11}$/.test(text)) return { type: "yt", id: text };
    return { error: "That is not a link: it should start with https://." };
  }
  let url;
  try { url = new URL(text); } catch { return { error: "That link cannot be read." }; }
  const host = url.hostname.toLowerCase().replace(/^www\./, "").replace(/^m\./, "");
  const seg = url.pathname.split("/").filter(Boolean);
  const q = url.searchParams;
  if (["youtube.com", "music.youtube.com", "youtube-nocookie.com"].includes(host)) {
    if (seg[0] === "watch" && q.get("v")) return { type: "yt", id: q.get("v") };
    if (seg.length >= 2 && ["shorts", "embed", "live", "v"].includes(seg[0])) return { type: "yt", id: seg[1] };
    if (seg[0] === "playlist" && q.get("list")) return { type: "yp", id: q.get("list") };
    return { error: "That YouTube link names no video." };
  }
  if (host === "youtu.be" && seg.length) return { type: "yt", id: seg[0] };
  if (host === "vimeo.com" || host === "player.vimeo.com") {
    const id = seg.find((s) => /^\d+$/.test(s));
    return id ? { type: "vi", id } : { error: "That Vimeo link names no video." };
  }
  if (host === "dailymotion.com" && seg.length >= 2 && seg[0] === "video") return { type: "dm", id: seg[1].split("_")[0] };
  if (host === "dai.ly" && seg.length) return { type: "dm", id: seg[0] };
  if (host === "clips.twitch.tv" && seg.length) return { type: "tc", id: seg[0] };
  if (host === "twitch.tv" && seg.length) {
    if (seg.length >= 2 && seg[0] === "videos" && /^\d+$/.test(seg[1])) return { type: "tv", id: "v" + seg[1] };
    if (seg.length >= 3 && seg[1] === "clip") return { type: "tc", id: seg[2] };
    return { type: "tw", id: seg[0] };
  }
  if (host === "soundcloud.com" && seg.length) return { type: "sc", id: text };
  const path = url.pathname.toLowerCase();
  if (path.endsWith(".json")) {
    return url.protocol === "https:" ? { type: "cm", id: text } : { error: "A custom manifest must be served over https." };
  }
  const ext = path.includes(".") ? path.split(".").pop() : "";
  if (RAW.includes(ext)) {
    return url.protocol === "https:" ? { type: "fi", id: text } : { error: "A raw file must be served over https." };
  }
  return { error: `This link is not one CyTube plays: use YouTube, Vimeo, Dailymotion, Twitch, SoundCloud, a .json manifest or a media file (${RAW.join(", ")}).` };
}

export const TYPE_NAMES = { yt: "YouTube", yp: "YouTube playlist", vi: "Vimeo", dm: "Dailymotion", tw: "Twitch stream", tv: "Twitch video", tc: "Twitch clip", sc: "SoundCloud", cm: "custom manifest", fi: "media file", gd: "Google Drive" };
