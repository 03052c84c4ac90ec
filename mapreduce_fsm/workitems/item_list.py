"""The map's items as a sequence kept as values and ids, making a `WorkItem` only when asked."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import attrs


@attrs.frozen(kw_only=True)
class WorkItem:
    """One item of the map: `index` is its 0-based position in the final list."""

    id: str
    index: int
    value: Any


_DEFAULT_ID = "item-{}"


def default_id(index: int) -> str:
    """The id of an item when `map.id_field` is not set."""
    return _DEFAULT_ID.format(index)


class ItemList(Sequence[WorkItem]):
    """The items in order, held as their values and ids alone.

    A resume of 100,000 items with 99,000 done walks the ids and makes `WorkItem`s for the
    1,000 it runs: making all of them (and their `item-N` ids) cost a tenth of a second and
    15 MiB. Indexing and iterating give `WorkItem`s, made on each access.

    >>> items = ItemList(["a", "b"])
    >>> items[1], list(items.ids())
    (WorkItem(id='item-1', index=1, value='b'), ['item-0', 'item-1'])
    """

    __slots__ = ("_ids", "_values")

    def __init__(self, values: Sequence[Any], ids: Sequence[str] | None = None) -> None:
        if ids is not None and len(ids) != len(values):
            raise ValueError(f"{len(ids)} ids for {len(values)} items")
        self._values = values
        self._ids = ids  # None: the default ids, item-<index>

    @property
    def values(self) -> Sequence[Any]:
        return self._values

    def ids(self) -> Iterator[str]:
        """Each item's id, in order."""
        if self._ids is None:
            return map(_DEFAULT_ID.format, range(len(self._values)))  # a C call each
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: int) -> WorkItem: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[WorkItem, ...]: ...

    def __getitem__(self, index: int | slice) -> WorkItem | tuple[WorkItem, ...]:
        if isinstance(index, slice):
            return tuple(self[at] for at in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"item index out of range: {index}")
        value = self._values[index]
        item_id = default_id(index) if self._ids is None else self._ids[index]
        return WorkItem(id=item_id, index=index, value=value)

    def __iter__(self) -> Iterator[WorkItem]:
        for index, (item_id, value) in enumerate(zip(self.ids(), self._values, strict=True)):
            yield WorkItem(id=item_id, index=index, value=value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ItemList):
            return NotImplemented
        return (len(self) == len(other) and list(self._values) == list(other._values)
                and all(map(str.__eq__, self.ids(), other.ids())))

    __hash__ = None  # type: ignore[assignment]  # mutable-looking: compared by content

    def __repr__(self) -> str:
        return f"ItemList({len(self)} items)"
