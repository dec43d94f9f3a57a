"""The job requests of the REST API and the jobs forms (analyze, thumbnails, organize), checked the same way for
both: plain-word messages under their fields, folders checked by ``catalog.validators``, what the user may not do
refused by ``catalog.permissions`` (PermissionDenied). The API (``jobs.api``) and the pages (``jobs.pages``,
``catalog.pages``) take them from here.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers
from rest_framework.settings import api_settings

from catalog.models import Operation
from catalog.permissions import analyze_refusal, organize_refusal, refuse_unless
from catalog.selectors import catalog_by_path
from catalog.services import organize
from catalog.similarity.grouping import MAX_THRESHOLD
from catalog.validators import REFUSED, known_catalog, library_folder, new_catalog_path, output_folder, refuse


def _text(required: str, max_length: int) -> dict[str, str]:
    """Plain-word messages of a text field; ``required`` says what to give."""
    return {"required": required, "blank": required, "null": required, "invalid": "must be text",
            "max_length": f"is too long (at most {max_length} characters)"}  # fmt: skip


def _number(low: int, high: int, each: str = "") -> dict[str, str]:
    """Plain-word messages of a whole-number field with its bounds (``each``: "each size " in a list)."""
    between = f"{each}must be between {low} and {high}"
    return {"invalid": f"{each}must be a whole number", "min_value": between, "max_value": between,
            "max_string_length": between, "null": f"{each}must be a whole number"}  # fmt: skip


def _choice(choices: list[str]) -> dict[str, str]:
    return dict.fromkeys(("invalid_choice", "null"), f"must be one of {', '.join(choices)}")


FLAG = {"invalid": "must be true or false", "null": "must be true or false"}
# The organize service's own choices, as lists for the serializers and the forms.
STRUCTURES, NAMINGS, OPERATIONS = list(organize.STRUCTURES), list(organize.NAMINGS), list(organize.OPERATIONS)
MAX_SOURCES, MAX_SIZES = 64, 8


class _Request(serializers.Serializer):
    """A request whose every message is plain words: the API's ``error`` and the jobs forms show them as they are.
    Its context holds the ``user`` asking: what they may not do (``catalog.permissions``) raises PermissionDenied,
    once the fields are valid."""

    default_error_messages = {"invalid": "the request must be a JSON object, not {datatype}"}

    @property
    def user(self):
        return self.context["user"]


class AnalyzeRequest(_Request):
    catalog_path = serializers.CharField(max_length=1024, error_messages=_text("give the catalog folder", 1024))
    source_directories = serializers.ListField(
        child=serializers.CharField(max_length=4096, error_messages=_text("give each source folder", 4096)),
        min_length=1, max_length=MAX_SOURCES,
        error_messages={"required": "give at least one source folder", "null": "give at least one source folder",
                        "empty": "give at least one source folder", "min_length": "give at least one source folder",
                        "max_length": f"give at most {MAX_SOURCES} source folders",
                        "not_a_list": "must be a list of folders"},
    )  # fmt: skip
    detect_duplicates = serializers.BooleanField(default=True, error_messages=FLAG)
    similarity_threshold = serializers.IntegerField(
        min_value=0, max_value=MAX_THRESHOLD, required=False, allow_null=True, default=None,
        error_messages=_number(0, MAX_THRESHOLD),
    )  # fmt: skip
    workers = serializers.IntegerField(
        min_value=1, max_value=64, required=False, allow_null=True, default=None, error_messages=_number(1, 64)
    )

    def validate_catalog_path(self, value: str) -> str:
        return new_catalog_path(value)

    def validate_source_directories(self, value: list[str]) -> list[str]:
        """Every refused folder is told, not only the first."""
        folders, refused = set(), []
        for path in value:
            try:
                folders.add(library_folder(path))
            except serializers.ValidationError as exc:
                refused += exc.detail
        if refused:
            raise serializers.ValidationError(refused, code=REFUSED)
        return sorted(folders)

    def validate(self, attrs: dict) -> dict:
        catalog = catalog_by_path(attrs["catalog_path"])
        field = "catalog_path" if catalog is None else "source_directories"
        refuse_unless(analyze_refusal(self.user, catalog, attrs["source_directories"]), field)
        return attrs


class ThumbnailsRequest(_Request):
    catalog_path = serializers.CharField(max_length=1024, error_messages=_text("choose a catalog", 1024))
    sizes = serializers.ListField(
        child=serializers.IntegerField(min_value=16, max_value=4096, error_messages=_number(16, 4096, "each size ")),
        min_length=1, max_length=MAX_SIZES, required=False,
        error_messages={"null": "give at least one size", "empty": "give at least one size",
                        "min_length": "give at least one size", "max_length": f"give at most {MAX_SIZES} sizes",
                        "not_a_list": "must be a list of sizes in pixels"},
    )  # fmt: skip
    quality = serializers.IntegerField(min_value=1, max_value=100, default=80, error_messages=_number(1, 100))
    force = serializers.BooleanField(default=False, error_messages=FLAG)

    def validate_catalog_path(self, value: str) -> str:
        return known_catalog(value)


# Which field a refusal of organize_check is about, by what its message speaks of (the first that matches).
ORGANIZE_REFUSALS = (("undated folder", "undated_folder"), ("output", "output_directory"))


class OrganizeRequest(_Request):
    catalog_path = serializers.CharField(max_length=1024, error_messages=_text("choose a catalog", 1024))
    output_directory = serializers.CharField(max_length=4096, error_messages=_text("give the output folder", 4096))
    operation = serializers.ChoiceField(OPERATIONS, default="copy", error_messages=_choice(OPERATIONS))
    directory_structure = serializers.ChoiceField(STRUCTURES, default="YYYY/MM", error_messages=_choice(STRUCTURES))
    naming_strategy = serializers.ChoiceField(NAMINGS, default="date_time_checksum", error_messages=_choice(NAMINGS))
    dry_run = serializers.BooleanField(default=False, error_messages=FLAG)
    verify_checksums = serializers.BooleanField(default=True, error_messages=FLAG)
    skip_duplicates = serializers.BooleanField(default=False, error_messages=FLAG)
    only_redundant = serializers.BooleanField(
        default=False, error_messages=FLAG,
        help_text="only the copies other than the primary of each exact duplicate group",
    )  # fmt: skip
    undated_folder = serializers.CharField(
        max_length=255, allow_null=True, default="undated",
        error_messages=_text("give a folder name for undated files", 255),
        help_text="folder (in the output) for files without a reliable date; null leaves them out",
    )  # fmt: skip
    exclude_output = serializers.BooleanField(
        default=False, error_messages=FLAG,
        help_text="an output inside a source folder is left out of the catalog's later scans instead of refused",
    )  # fmt: skip

    def validate_catalog_path(self, value: str) -> str:
        return known_catalog(value)

    def validate_output_directory(self, value: str) -> str:
        return output_folder(value)

    def validate_undated_folder(self, value: str | None) -> str | None:
        if value is not None and ("/" in value or value in (".", "..")):
            refuse("must be a plain folder name, without /")
        return value

    def validate(self, attrs: dict) -> dict:
        """The refusals of organize itself (output inside a source, a move on a catalog never analyzed, …), under
        the field they are about, else for the request as a whole."""
        from catalog.services.organize import OrganizeError, OrganizeOptions, organize_check

        catalog = catalog_by_path(attrs["catalog_path"])
        assert catalog is not None  # validate_catalog_path made sure
        refusal = organize_refusal(self.user, catalog, operation=attrs["operation"], dry_run=attrs["dry_run"],
                                   exclude_output=attrs["exclude_output"])  # fmt: skip
        refuse_unless(refusal, "operation" if attrs["operation"] == Operation.MOVE else "exclude_output")
        options = OrganizeOptions.from_params(attrs)
        options.roots = list(settings.VAM_LIBRARY_ROOTS)
        try:
            attrs["output_directory"] = organize_check(catalog, options)
        except OrganizeError as exc:
            message = str(exc)
            field = next((name for words, name in ORGANIZE_REFUSALS if words in message), None)
            raise serializers.ValidationError({field: message} if field else message, code=REFUSED) from exc
        return attrs


def error_lines(errors, prefix: str = "") -> list[str]:
    """Validation errors as lines of words, each once: `field: message`. The entries of a list field (keyed by
    their index) and the errors of no field take no prefix of their own."""
    if isinstance(errors, dict):
        lines = [
            line
            for key, value in errors.items()
            for line in error_lines(value, prefix if _unnamed(key) else f"{prefix}{key}: ")
        ]
    elif isinstance(errors, list):
        lines = [line for value in errors for line in error_lines(value, prefix)]
    else:
        lines = [f"{prefix}{errors}"]
    return list(dict.fromkeys(lines))


def _unnamed(key) -> bool:
    return isinstance(key, int) or str(key).isdigit() or key == api_settings.NON_FIELD_ERRORS_KEY
