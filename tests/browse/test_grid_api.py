"""The catalog reads of the REST API: the asset grid's filters, sorts and keyset pagination, one asset, its
thumbnail (cached by ETag), and their refusals."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from catalog.grid import AssetQuery, QueryError
from catalog.models import Asset, Catalog, DuplicateGroup, DuplicateMember
from tests.services.helpers import analyze, camera_photo

pytestmark = pytest.mark.django_db


def when(year: int, month: int = 1, day: int = 1, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture
def catalog():
    """Ten assets over three years, two cameras, a video, a problem, two undated, one suspicious, two in a group."""
    catalog = Catalog.objects.create(path="/catalogs/grid", name="grid")
    rows = [
        ("/p/2019/a.jpg", when(2019, 3, 15), "Canon", "image", 100, "ok", False),
        ("/p/2019/b.jpg", when(2019, 3, 16), "Canon", "image", 500, "ok", False),
        ("/p/2019/c.mp4", when(2019, 7, 1), "Sony", "video", 900, "ok", False),
        ("/p/2020/d.jpg", when(2020, 1, 2), "Sony", "image", 300, "problem", False),
        ("/p/2020/e.jpg", when(2020, 1, 2), "Canon", "image", 300, "ok", False),  # same instant as d
        ("/p/2020/f.jpg", when(2020, 12, 31, 23), "Canon", "image", 700, "ok", False),
        ("/p/2021/g.jpg", when(2021, 6, 1), "Sony", "image", 200, "ok", True),  # suspicious
        ("/p/x/h.jpg", None, "", "image", 50, "ok", False),
        ("/p/x/i.jpg", None, "", "image", 60, "ok", False),
        ("/p/2021/j.jpg", when(2021, 6, 2), "Canon", "image", 800, "ok", False),
    ]
    for path, taken, model, media, size, status, suspicious in rows:
        Asset.objects.create(catalog=catalog, path=path, taken_at=taken, camera_model=model, media_type=media,
                             size=size, status=status, date_suspicious=suspicious, sha256=path[-5] * 64)  # fmt: skip
    group = DuplicateGroup.objects.create(catalog=catalog, kind="exact", key="k" * 64, member_count=2)
    for name in ("/p/2019/a.jpg", "/p/2021/j.jpg"):
        DuplicateMember.objects.create(group=group, asset=Asset.objects.get(path=name))
    return catalog


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["path"].rsplit("/", 1)[1][0] for row in response.json()["results"]]


def grid(client, catalog, query: str = "") -> list[str]:
    return names(client.get(f"/api/catalogs/{catalog.pk}/assets{query}"))


def test_every_filter_keeps_what_it_says(admin_client, catalog):
    assert grid(admin_client, catalog) == ["j", "g", "f", "e", "d", "c", "b", "a", "i", "h"]  # newest first
    assert grid(admin_client, catalog, "?year=2020") == ["f", "e", "d"]
    assert grid(admin_client, catalog, "?year=2019&month=3") == ["b", "a"]
    assert grid(admin_client, catalog, "?year=2020&month=12") == ["f"]  # the last hour of the year is December
    assert grid(admin_client, catalog, "?date_from=2019-03-16&date_to=2020-01-02") == ["e", "d", "c", "b"]
    assert grid(admin_client, catalog, "?camera=Sony") == ["g", "d", "c"]
    assert grid(admin_client, catalog, "?media_type=video") == ["c"]
    assert grid(admin_client, catalog, "?problem=1") == ["d"]
    assert "d" not in grid(admin_client, catalog, "?problem=0")
    assert grid(admin_client, catalog, "?undated=1") == ["g", "i", "h"]
    assert grid(admin_client, catalog, "?duplicates=1") == ["j", "a"]
    assert len(grid(admin_client, catalog, "?duplicates=0")) == 8
    assert grid(admin_client, catalog, "?folder=/p/2019") == ["c", "b", "a"]
    assert grid(admin_client, catalog, "?folder=/p/20") == []  # a folder, not a name prefix
    assert grid(admin_client, catalog, "?camera=Canon&year=2019") == ["b", "a"]
    assert len(grid(admin_client, catalog, "?date_from=0001-01-01&date_to=9999-12-31")) == 8  # the dated ones


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("-taken_at", "jgfedcbaih"),
        ("taken_at", "abcdefgjhi"),
        ("path", "abcdefgjhi"),
        ("-path", "ihjgfedcba"),
        ("size", "hiagdebfjc"),
        ("-size", "cjfbedgaih"),
    ],
)
def test_keyset_pages_walk_every_asset_once_in_order(admin_client, catalog, sort, order):
    seen, url = [], f"/api/catalogs/{catalog.pk}/assets?sort={sort}&limit=3"
    pages = 0
    while url:
        response = admin_client.get(url)
        seen += names(response)
        url = response.json()["next"]
        pages += 1
    assert "".join(seen) == order and pages == 4
    # Undated assets come last whichever way the dates go, ties are broken by id, and no page repeats a row.


def test_bad_queries_answer_400_with_the_reason_and_unknown_catalogs_404(admin_client, client, catalog):
    for query, reason in (
        ("?year=12345", "year"),
        ("?month=3", "give a year"),
        ("?date_from=yesterday", "YYYY-MM-DD"),
        ("?media_type=sound", "media_type"),
        ("?problem=maybe", "problem"),
        ("?sort=random", "sort"),
        ("?limit=0", "limit"),
        ("?limit=x", "limit"),
        ("?after=garbage", "cursor"),
    ):
        response = admin_client.get(f"/api/catalogs/{catalog.pk}/assets{query}")
        assert response.status_code == 400 and reason in response.json()["error"], query
    forged = base64.urlsafe_b64encode(b'{"s":"size","v":"x\'; drop table","i":1}').decode()
    assert admin_client.get(f"/api/catalogs/{catalog.pk}/assets?sort=size&after={forged}").status_code == 400
    first = admin_client.get(f"/api/catalogs/{catalog.pk}/assets?limit=2").json()["next"]
    other_sort = first.replace("limit=2", "limit=2&sort=path")
    assert admin_client.get(other_sort).status_code == 400
    assert admin_client.get("/api/catalogs/999999/assets").status_code == 404
    assert admin_client.get("/api/assets/999999").status_code == 404
    for path in ("/api/catalogs", f"/api/catalogs/{catalog.pk}/assets", "/api/assets/1", "/api/assets/1/thumbnail"):
        assert client.get(path).status_code == 401, path


def test_query_reads_its_own_links_back():
    query = AssetQuery.from_params({"year": "2019", "month": "3", "camera": "Canon", "problem": "0", "sort": "size"})
    assert AssetQuery.from_params(query.params()) == query
    assert AssetQuery().params() == {}
    with pytest.raises(QueryError):
        AssetQuery.from_params({"undated": "perhaps"})


def test_an_asset_and_its_thumbnail_with_etag(admin_client, tmp_path):
    library = tmp_path / "photos"
    camera_photo(library / "DSC_0001.jpg", "2019:03:15 14:22:33", make="Canon", model="EOS R5")
    catalog, _ = analyze(tmp_path / "catalog", library)
    asset = Asset.objects.get(catalog=catalog)

    record = admin_client.get(f"/api/assets/{asset.pk}").json()
    assert record["path"] == asset.path and record["taken_at"] == "2019-03-15T14:22:33"
    assert record["camera_model"] == "EOS R5" and record["date_source"] == "exif_original"
    assert record["duplicate_groups"] == [] and record["thumbnail"] == f"/api/assets/{asset.pk}/thumbnail"

    response = admin_client.get(f"/api/assets/{asset.pk}/thumbnail")
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert "immutable" in response["Cache-Control"] and response["ETag"].startswith(f'"{asset.sha256}-512-')
    again = admin_client.get(f"/api/assets/{asset.pk}/thumbnail", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    small = admin_client.get(f"/api/assets/{asset.pk}/thumbnail?size=256")
    assert small.status_code == 200 and small["ETag"] != response["ETag"]
    bad = admin_client.get(f"/api/assets/{asset.pk}/thumbnail?size=300")
    assert bad.status_code == 400 and "256" in json.loads(bad.content)["error"]

    catalogs = admin_client.get("/api/catalogs").json()
    assert [c["path"] for c in catalogs] == [catalog.path] and catalogs[0]["last_analyzed_at"]


@pytest.mark.parametrize("sort", ["-taken_at", "taken_at", "path", "-path", "size", "-size"])
def test_every_asset_knows_its_neighbours_in_the_order(catalog, sort):
    query = AssetQuery(sort=sort)
    order = list(query.queryset(catalog.pk))
    for index, asset in enumerate(order):
        previous, following = query.neighbours(catalog.pk, asset)
        assert previous == (order[index - 1] if index else None), (sort, asset.path)
        assert following == (order[index + 1] if index + 1 < len(order) else None), (sort, asset.path)
