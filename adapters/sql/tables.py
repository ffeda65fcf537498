"""Table layouts of the read models. Projections speak rows; these give the rows a home."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
)

queue_channels = Table(
    "queue_channels",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("now_playing_item_id", String(64)),
    Column("now_playing_uid", BigInteger),
    Column("playing_since", DateTime(timezone=True)),
    Column("empty_snapshot_held", Boolean, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("lock_label", Text),
    Column("lock_until", DateTime(timezone=True)),
    Column("lock_by", String(100)),
)

queue_items = Table(
    "queue_items",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("media_type", String(40), nullable=False),
    Column("media_id", String(400), nullable=False),
    Column("title", Text, nullable=False),
    Column("duration_sec", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("temp", Boolean, nullable=False),
    Column("queued_by", String(200), nullable=False),
    Column("request_id", String(100)),
    Column("paid_by", String(100)),
    Column("tier", String(20)),
    Column("cost", Integer),
    Column("pay_status", String(20)),
    Column("owner_away_reason", String(20)),
    Column("owner_away_since", DateTime(timezone=True)),
    Column("cancels_at", DateTime(timezone=True)),
    Column("promo_type", String(40)),
    Column("lead_in_for", String(64)),
)

pay_items = Table(
    "pay_items",
    metadata,
    Column("request_id", String(100), primary_key=True),
    Column("channel", String(200), nullable=False, index=True),
    Column("user", String(100), nullable=False, index=True),
    Column("media_type", String(40), nullable=False),
    Column("media_id", String(400), nullable=False),
    Column("title", Text, nullable=False),
    Column("duration_sec", Integer, nullable=False),
    Column("tier", String(20), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("payment", String(20), nullable=False),
    Column("cost", Integer, nullable=False),
    Column("placement", String(20), nullable=False),
    Column("add_attempts", Integer, nullable=False),
    Column("item_id", String(64)),
    Column("slot_after", String(64)),
    Column("slot_chosen", Boolean, nullable=False),
    Column("cancel_reason", String(100)),
    Column("decline_code", String(100)),
    Column("refunded", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("finished", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

pay_item_history = Table(
    "pay_item_history",
    metadata,
    Column("request_id", String(100), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("channel", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("type", String(60), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("data", Text, nullable=False),
)

saved_playlists = Table(
    "saved_playlists",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("playlist_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("is_immutable", Boolean, nullable=False),
    Column("promo_type", String(40), index=True),
    Column("item_count", Integer, nullable=False),
    Column("total_duration_sec", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted", Boolean, nullable=False),
)

saved_playlist_items = Table(
    "saved_playlist_items",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("playlist_id", String(64), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("media_type", String(40), nullable=False),
    Column("media_id", String(400), nullable=False),
    Column("title", Text, nullable=False),
    Column("duration_sec", Integer, nullable=False),
)

saved_playlist_meta = Table(
    "saved_playlist_meta",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("playlist_id", String(64), primary_key=True),
    Column("created_by", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("apply_count", Integer, nullable=False),
    Column("last_applied_at", DateTime(timezone=True)),
    Column("last_apply_id", String(64)),
    Column("items_queued", Integer, nullable=False),
)

# ---- stats (application/stats/projection.py) ----------------------------------------------

stats_channels = Table(
    "stats_channels",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

stats_counters = Table(
    "stats_counters",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("metric", String(60), primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

stats_media = Table(
    "stats_media",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("media_type", String(40), primary_key=True),
    Column("media_id", String(400), primary_key=True),
    Column("title", Text, nullable=False),
    Column("duration_sec", Integer, nullable=False),
    Column("plays", BigInteger, nullable=False),
    Column("last_played", DateTime(timezone=True), nullable=False),
)

stats_plays = Table(
    "stats_plays",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("played_at", DateTime(timezone=True), nullable=False, index=True),
    Column("item_id", String(64), nullable=False),
    Column("media_type", String(40), nullable=False),
    Column("media_id", String(400), nullable=False),
    Column("title", Text, nullable=False),
    Column("duration_sec", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
)

stats_items = Table(
    "stats_items",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("media_type", String(40), nullable=False),
    Column("media_id", String(400), nullable=False),
    Column("title", Text, nullable=False),
    Column("duration_sec", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
)

stats_promos = Table(
    "stats_promos",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("promo_id", String(64), primary_key=True),
    Column("promo_type", String(40), nullable=False),
)

stats_viewers = Table(
    "stats_viewers",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("user", String(100), primary_key=True),
    Column("purchases", BigInteger, nullable=False),
    Column("declined", BigInteger, nullable=False),
    Column("played", BigInteger, nullable=False),
    Column("refunded", BigInteger, nullable=False),
    Column("captured", BigInteger, nullable=False),
    Column("refunded_coins", BigInteger, nullable=False),
)

stats_purchases = Table(
    "stats_purchases",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("request_id", String(100), primary_key=True),
    Column("user", String(100), nullable=False),
)

likes_log = Table(
    "likes_log",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("user", String(100), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("media_type", String(40), nullable=False),
    Column("media_id", String(400), nullable=False),
    Column("title", Text, nullable=False),
    Column("liked_at", DateTime(timezone=True), nullable=False, index=True),
)

likes_media = Table(
    "likes_media",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("media_type", String(40), primary_key=True),
    Column("media_id", String(400), primary_key=True),
    Column("title", Text, nullable=False),
    Column("likes", BigInteger, nullable=False),
    Column("last_liked", DateTime(timezone=True), nullable=False),
)

likes_items = Table(
    "likes_items",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("media_type", String(40), nullable=False),
    Column("media_id", String(400), nullable=False),
    Column("title", Text, nullable=False),
    Column("likes", BigInteger, nullable=False),
    Column("last_liked", DateTime(timezone=True), nullable=False),
)


# ---- catalog (application/catalog/projection.py; search in adapters/sql/catalog_index.py) -----

catalog_items = Table(
    "catalog_items",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("snapshot_id", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("video_id", String(400), nullable=False),
    Column("title", Text, nullable=False),
    Column("title_norm", Text, nullable=False),  # domain.catalog.text.fold(title)
    Column("categories", Text, nullable=False),  # JSON list, as the source names them
    Column("tags", Text, nullable=False),  # JSON list
    Column("duration_sec", Integer, nullable=False),
    Column("thumbnail_url", Text),
    Column("published_at", DateTime(timezone=True)),
    Column("manifest_url", Text),
    Column("available", Boolean, nullable=False),
    Column("unavailable_reason", Text),
    Index("catalog_items_by_title", "channel", "snapshot_id", "title_norm"),
    Index("catalog_items_by_published", "channel", "snapshot_id", "published_at"),
    Index("catalog_items_by_manifest", "channel", "snapshot_id", "manifest_url"),
)

catalog_item_categories = Table(
    "catalog_item_categories",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("snapshot_id", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("category_norm", String(200), primary_key=True),
    Column("category", String(200), nullable=False),
    Index("catalog_item_categories_by_category", "channel", "snapshot_id", "category_norm"),
)

catalog_snapshots = Table(
    "catalog_snapshots",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("snapshot_id", String(64), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("source", Text, nullable=False),
    Column("owner", String(200), nullable=False),
    Column("by", String(100), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("item_count", Integer, nullable=False),
    Column("available_count", Integer, nullable=False),
    Column("added", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("reason", Text),
    Column("warnings", Text, nullable=False),  # JSON list
    Column("changes", Text, nullable=False),  # JSON list of the first changes
)

catalog_current = Table(
    "catalog_current",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("snapshot_id", String(64), nullable=False),
    Column("switched_at", DateTime(timezone=True), nullable=False),
)
