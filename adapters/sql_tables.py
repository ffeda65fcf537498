"""Table layouts of the read models. Projections speak rows; these give the rows a home."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
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
)
