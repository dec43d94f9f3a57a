from django.db import migrations

# Postgres only, like 0004's: the rows with a doubtful date are few, and without these the grid's "no or
# suspicious date" filter and the date review page walk the whole catalog to find them.
POSTGRES_INDEXES = {
    "asset_doubtful_newest": "(catalog_id, taken_at DESC NULLS LAST, id DESC) "
    "WHERE taken_at IS NULL OR date_suspicious",
    "asset_date_review": "(catalog_id, path) "
    "WHERE taken_at IS NULL OR date_suspicious OR date_source IN ('mtime', 'manual')",
}


def postgres_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, definition in POSTGRES_INDEXES.items():
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON catalog_asset {definition}")


def drop_postgres_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in POSTGRES_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0008_filter_indexes")]

    operations = [migrations.RunPython(postgres_indexes, drop_postgres_indexes)]
