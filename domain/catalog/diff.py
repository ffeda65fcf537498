"""What changed between two snapshots: pure, by item key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from attrs import fields, frozen

from domain.catalog.items import CatalogItem

ChangeKind = Literal["added", "removed", "changed"]
# How many changes of each kind an event names one by one; the counts are always whole.
MAX_LISTED = 100


@frozen
class Change:
    key: str
    title: str
    kind: ChangeKind
    fields: tuple[str, ...] = ()


@frozen
class SnapshotDiff:
    added: int = 0
    removed: int = 0
    changed: int = 0
    changes: tuple[Change, ...] = ()  # up to MAX_LISTED of each kind: added, removed, changed

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


_COMPARED = tuple(f.name for f in fields(CatalogItem) if f.name != "key")


def changed_fields(old: CatalogItem, new: CatalogItem) -> tuple[str, ...]:
    return tuple(name for name in _COMPARED if getattr(old, name) != getattr(new, name))


def diff(
    previous: Mapping[str, CatalogItem],
    current: Mapping[str, CatalogItem],
    *,
    max_listed: int = MAX_LISTED,
) -> SnapshotDiff:
    added = [current[k] for k in sorted(current.keys() - previous.keys())]
    removed = [previous[k] for k in sorted(previous.keys() - current.keys())]
    changed: list[Change] = []
    for key in sorted(current.keys() & previous.keys()):
        what = changed_fields(previous[key], current[key])
        if what:
            changed.append(Change(key, current[key].title, "changed", what))
    listed = [
        *(Change(i.key, i.title, "added") for i in added[:max_listed]),
        *(Change(i.key, i.title, "removed") for i in removed[:max_listed]),
        *changed[:max_listed],
    ]
    return SnapshotDiff(len(added), len(removed), len(changed), tuple(listed))
