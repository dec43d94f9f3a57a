"""What the catalog commands share: finding the catalog a command names."""

from django.core.management.base import CommandError

from catalog.models import Catalog
from catalog.selectors import catalog_by_path


def existing_catalog(path: str) -> Catalog:
    """The catalog at ``path``, or a CommandError telling the user to analyze first."""
    catalog = catalog_by_path(path)
    if catalog is None:
        raise CommandError(f"no catalog at {path}: run analyze first")
    return catalog
