"""The asset grid's reads: filters from a query string, sorting, and keyset pagination (never OFFSET).

One ``AssetQuery`` is read from the URL (so a view can be bookmarked) by the pages and the API alike; it builds
the queryset, and the page after a cursor is fetched with a ``WHERE (key, id) > (…)`` condition that the
matching index serves, so the millionth row costs what the first does.

Sorting by capture date keeps the assets without a reliable date (none, or only the file's modification time,
``RELIABLE_DATE``) last in both directions, by id. Each order has an index of its own (``Asset.Meta.indexes``):
the partial (catalog, taken_at, id) of the reliably dated serves both date orders and the partial (catalog, id)
of the rest their tail; (catalog, size, id) both size orders, and the unique (catalog, path) both path orders.
Date filters (range, year, month) select by capture date, so they leave out the modification-time guesses.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Case, Exists, F, OuterRef, Q, QuerySet, When
from django.db.models.expressions import RawSQL
from django.db.models.lookups import Exact

from catalog.models import RELIABLE_DATE, Asset, AssetStatus, DateSource, DuplicateMember, MediaType

SORTS = {
    "-taken_at": ("taken_at", True),
    "taken_at": ("taken_at", False),
    "path": ("path", False),
    "-path": ("path", True),
    "size": ("size", False),
    "-size": ("size", True),
}
DEFAULT_SORT = "-taken_at"
# The longest camera and folder filters, in characters: beyond any camera name or folder a library holds, and
# short enough that a query of them all still fits the 16 KiB request line a server reads.
TEXT_LIMITS = {"camera": 255, "folder": 1024, "keyword": 100}
PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


class QueryError(ValueError):
    """A filter or cursor the grid cannot use; the message says which and why."""


@dataclass(frozen=True)
class AssetQuery:
    date_from: date | None = None
    date_to: date | None = None
    year: int | None = None
    month: int | None = None
    camera: str = ""
    media_type: str = ""
    problem: bool | None = None
    undated: bool = False
    duplicates: bool | None = None
    folder: str = ""
    keyword: str = ""  # one of the asset's XMP/IPTC keywords, whole, in any case
    rating: int | None = None  # at least this XMP rating (-1, rejected, takes every rated asset)
    sort: str = DEFAULT_SORT

    @classmethod
    def from_params(cls, params) -> AssetQuery:
        """Read the filters from a query dict (``?year=2019&month=3&camera=…``); QueryError on a bad value."""
        values: dict[str, Any] = {}
        for name in ("date_from", "date_to"):
            if params.get(name):
                values[name] = _date(name, params[name])
        for name, low, high in (("year", 1800, 2200), ("month", 1, 12), ("rating", -1, 5)):
            if params.get(name):
                values[name] = _int(name, params[name], low, high)
        if values.get("month") and not values.get("year"):
            raise QueryError("month: give a year with the month")
        for name, limit in TEXT_LIMITS.items():
            values[name] = text_param(params, name, limit)
        media_type = params.get("media_type") or ""
        if media_type and media_type not in MediaType.values:
            raise QueryError(f"media_type: choose {' or '.join(MediaType.values)}")
        values["media_type"] = media_type
        for name in ("problem", "duplicates"):
            if params.get(name) not in (None, ""):
                values[name] = _bool(name, params[name])
        values["undated"] = bool(params.get("undated")) and _bool("undated", params["undated"])
        sort = params.get("sort") or DEFAULT_SORT
        if sort not in SORTS:
            raise QueryError(f"sort: choose one of {', '.join(SORTS)}")
        values["sort"] = sort
        return cls(**values)

    def params(self) -> dict[str, str]:
        """The query string of these filters (only what differs from the defaults), for links."""
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or value == "" or value == item.default:  # (problem=0 differs from no filter)
                continue
            out[item.name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out

    def but(self, **changes) -> AssetQuery:
        return replace(self, **changes)

    def queryset(self, catalog_id: int) -> QuerySet[Asset]:
        assets = Asset.objects.filter(catalog_id=catalog_id)
        if self.date_from or self.date_to or self.year:
            assets = assets.filter(RELIABLE_DATE)
        if self.date_from:
            assets = assets.filter(taken_at__gte=_midnight(self.date_from))
        if self.date_to and self.date_to < date.max:  # (the last day there is bounds nothing)
            assets = assets.filter(taken_at__lt=_midnight(self.date_to + timedelta(days=1)))
        if self.year:
            start = date(self.year, self.month or 1, 1)
            end = (
                date(self.year + 1, 1, 1) if not self.month or self.month == 12 else date(self.year, self.month + 1, 1)
            )
            assets = assets.filter(taken_at__gte=_midnight(start), taken_at__lt=_midnight(end))
        if self.camera:
            assets = assets.filter(camera_model=self.camera)
        if self.media_type:
            assets = assets.filter(media_type=self.media_type)
        if self.problem is not None:
            assets = assets.filter(status=AssetStatus.PROBLEM) if self.problem else assets.exclude(
                status=AssetStatus.PROBLEM)  # fmt: skip
        if self.undated:
            assets = assets.filter(~RELIABLE_DATE | Q(date_suspicious=True))
        if self.duplicates is not None:
            member = Exists(DuplicateMember.objects.filter(asset_id=OuterRef("pk")))
            assets = assets.filter(member if self.duplicates else ~member)
        if self.folder:
            assets = assets.filter(path__startswith=self.folder.rstrip("/") + "/")
        if self.keyword:
            assets = assets.filter(_has_keyword(self.keyword))
        if self.rating is not None:
            assets = assets.filter(rating__gte=self.rating)
        key, descending = SORTS[self.sort]
        if key != "taken_at":
            return assets.order_by(*self.ordering())
        # The whole order in one expression (the pages read its two parts apart, each from its own index).
        dated = Case(When(RELIABLE_DATE, then=F("taken_at")), default=None)
        return assets.order_by(dated.desc(nulls_last=True) if descending else dated.asc(nulls_last=True),
                               "-id" if descending else "id")  # fmt: skip

    def ordering(self) -> list:
        key, descending = SORTS[self.sort]
        if key == "path":  # unique within a catalog: no tie to break
            return ["-path" if descending else "path"]
        column = F(key).desc() if descending else F(key).asc()  # (by date: only for the reliably dated)
        return [column, "-id" if descending else "id"]

    def page(self, catalog_id: int, *, after: str | None = None, limit: int = PAGE_SIZE) -> tuple[list[Asset], str]:
        """Up to ``limit`` assets after the cursor, and the cursor of the next page ("" at the end)."""
        assets = self.queryset(catalog_id)
        key, descending = SORTS[self.sort]
        if key != "taken_at":
            if after:
                value, pk = self._cursor(after)
                assets = assets.filter(_beyond(key, descending, value, pk))
            rows = list(assets[: limit + 1])
        else:  # the reliably dated in date order, then the rest by id
            dated = assets.filter(RELIABLE_DATE).order_by(*self.ordering())  # as the partial index has them
            # (catalog, id) as the partial index orders them: a scan of the primary key would walk other catalogs
            rest = assets.exclude(RELIABLE_DATE).order_by(
                *(["-catalog_id", "-id"] if descending else ["catalog_id", "id"])
            )
            value, pk = self._cursor(after) if after else (None, 0)
            if after and value is None:  # among the rest already
                rows = list(rest.filter(**{f"id__{'lt' if descending else 'gt'}": pk})[: limit + 1])
            else:
                if after:
                    dated = dated.filter(_beyond(key, descending, value, pk))
                rows = list(dated[: limit + 1])
                if len(rows) <= limit:
                    rows += list(rest[: limit + 1 - len(rows)])
        following = cursor_of(rows[limit - 1], self.sort) if len(rows) > limit else ""
        return rows[:limit], following

    def neighbours(self, catalog_id: int, asset: Asset) -> tuple[Asset | None, Asset | None]:
        """The assets just before and just after ``asset`` in this filtered order (None at either end)."""
        following, _ = self.page(catalog_id, after=cursor_of(asset, self.sort), limit=1)
        key, descending = SORTS[self.sort]
        assets = self.queryset(catalog_id)
        backwards = [_reverse(item) for item in self.ordering()]
        value = getattr(asset, key)
        if key == "taken_at" and not asset.reliably_dated:  # an earlier one of the rest, else the last dated one
            earlier = assets.exclude(RELIABLE_DATE).filter(**{f"id__{'gt' if descending else 'lt'}": asset.pk})
            previous = earlier.order_by("id" if descending else "-id").first() or assets.filter(
                RELIABLE_DATE).order_by(*backwards).first()  # fmt: skip
        else:
            before = keyset_after(Asset, key, not descending, value, asset.pk, unique=key == "path")
            dated = assets.filter(RELIABLE_DATE) if key == "taken_at" else assets
            previous = dated.filter(before).order_by(*backwards).first()
        return previous, (following[0] if following else None)

    def _cursor(self, cursor: str) -> tuple[Any, int]:
        key, _ = SORTS[self.sort]
        try:
            data = decode_cursor(cursor)
            sort, value, pk = data["s"], data["v"], database_int(data["i"])
            if key == "taken_at" and value is not None:
                value = datetime.fromisoformat(value)
            expected = {"taken_at": (datetime, type(None)), "path": (str,), "size": (int,)}[key]
            if not isinstance(value, expected) or isinstance(value, bool):
                raise TypeError(f"a {key} cursor holds {type(value).__name__}")
            if isinstance(value, int):
                value = database_int(value)
            if isinstance(value, str) and "\x00" in value:
                raise ValueError("NUL in a cursor")
        except (ValueError, KeyError, TypeError) as exc:
            raise QueryError("after: not a cursor this grid gave") from exc
        if sort != self.sort:
            raise QueryError("after: the cursor belongs to another sort order")
        return value, pk


def _reverse(item):
    """An ordering term the other way round ("path" ↔ "-path"; F(...).desc() ↔ F(...).asc())."""
    if isinstance(item, str):
        return item[1:] if item.startswith("-") else f"-{item}"
    return item.expression.asc() if item.descending else item.expression.desc()


def _beyond(key: str, descending: bool, value: Any, pk: int) -> RawSQL:
    return keyset_after(Asset, key, descending, value, pk, unique=key == "path")


def keyset_after(model, key: str, descending: bool, value: Any, pk: int, *, unique: bool = False) -> RawSQL:
    """Rows after (value, id) in the order: one row comparison, which the order's index answers as a range
    (``unique``: the key alone orders, as a path does within a catalog)."""
    table = connection.ops.quote_name(model._meta.db_table)
    column = f"{table}.{connection.ops.quote_name(key)}"
    sign = "<" if descending else ">"
    # As the ORM would pass it (SQLite compares datetimes as text: an aware one would never match).
    value = model._meta.get_field(key).get_db_prep_value(value, connection)
    if unique:
        return RawSQL(f"{column} {sign} %s", (value,), output_field=BooleanField())
    ident = f"{table}.{connection.ops.quote_name('id')}"
    return RawSQL(f"({column}, {ident}) {sign} (%s, %s)", (value, pk), output_field=BooleanField())


INT64 = 2**63 - 1


def database_int(value: Any) -> int:
    """An integer a database column can hold; ValueError otherwise (JSON's 1e999 and 10**30 included)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not an integer: {value!r}")
    number = int(value) if isinstance(value, int) or re.fullmatch(r"-?[0-9]{1,19}", value) else None
    if number is None or not -INT64 <= number <= INT64:
        raise ValueError(f"not an integer a database holds: {str(value)[:30]!r}")
    return number


def _has_keyword(keyword: str) -> Q:
    """The keyword as a whole element of the asset's JSON list, in any case."""
    column = f"{Asset._meta.db_table}.keywords"
    if connection.vendor == "postgresql":  # (a row whose keywords are not a list matches nothing, never fails)
        each = f"jsonb_array_elements_text(CASE WHEN jsonb_typeof({column}) = 'array' THEN {column} ELSE '[]' END)"
    else:
        each = f"json_each({column})"
    sql = f"EXISTS (SELECT 1 FROM {each} AS word WHERE LOWER(word.value) = %s)"
    return Q(Exact(RawSQL(sql, (keyword.lower(),), output_field=BooleanField()), True))


def text_param(params, name: str, limit: int = 4096) -> str:
    """A text query parameter, stripped; QueryError for a NUL or one too long (neither is in any path)."""
    value = (params.get(name) or "").strip()
    if "\x00" in value or len(value) > limit:
        raise QueryError(f"{name}: not a value this catalog can hold")
    return value


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """QueryError unless the cursor is one of ours (a JSON object)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise QueryError("after: not a cursor this list gave") from exc
    if not isinstance(data, dict):
        raise QueryError("after: not a cursor this list gave")
    return data


def cursor_of(asset: Asset, sort: str) -> str:
    key, _ = SORTS[sort]
    value = getattr(asset, key)
    if key == "taken_at" and asset.date_source == DateSource.MTIME:  # sorted with the undated
        value = None
    if isinstance(value, datetime):
        value = value.isoformat()
    return encode_cursor({"s": sort, "v": value, "i": asset.pk})


def _midnight(day: date) -> datetime:
    """The start of a wall-clock day, labelled UTC as ``Asset.taken_at`` is (see its docstring)."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def _date(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{name}: expected a date as YYYY-MM-DD, got {text!r}") from None


def _int(name: str, text: str, low: int, high: int) -> int:
    if not re.fullmatch(r"-?\d{1,4}", text) or not low <= int(text) <= high:
        raise QueryError(f"{name}: expected a number from {low} to {high}, got {text!r}")
    return int(text)


def _bool(name: str, text: str) -> bool:
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise QueryError(f"{name}: expected 1 or 0, got {text!r}")
