from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.management.common import add_job_arguments, command_job, existing_catalog, job_named
from catalog.media.words import counted
from catalog.models import Operation
from catalog.services.exports import plan_export
from catalog.services.organize import (
    NAMINGS,
    STRUCTURES,
    OrganizeError,
    OrganizeOptions,
    journal_of,
    organize_check,
)
from jobs.models import Job, JobKind


class Command(BaseCommand):
    help = (
        "File a catalog's assets into date folders (copy, move or hard link) with a write-ahead journal: "
        "a plan first, nothing ever overwritten, resumable after a crash and undoable with --rollback."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "catalog_path", nargs="?", help="the analyzed catalog (not needed with --resume/--rollback)"
        )
        parser.add_argument("output_dir", nargs="?", help="the folder to organize into")
        parser.add_argument("--operation", choices=Operation.values, default=Operation.COPY)
        parser.add_argument("--structure", choices=list(STRUCTURES), default="YYYY/MM")
        parser.add_argument("--naming", choices=NAMINGS, default="date_time_checksum")
        parser.add_argument("--dry-run", action="store_true", help="compute and store the plan, change nothing")
        parser.add_argument("--no-verify", action="store_true", help="do not check each copy's sha256")
        parser.add_argument(
            "--skip-duplicates", action="store_true", help="place only the primary of each exact duplicate group"
        )
        parser.add_argument(
            "--exclude-output", action="store_true",
            help="an output inside a source folder: leave it out of the catalog's later scans instead of refusing it",
        )  # fmt: skip
        undated = parser.add_mutually_exclusive_group()
        undated.add_argument("--undated-folder", default="undated", help="folder for files with no reliable date")
        undated.add_argument("--skip-undated", action="store_true", help="leave files with no reliable date out")
        parser.add_argument("--plan", metavar="FILE", help="write the plan and journal to FILE (.json or .csv)")
        again = parser.add_mutually_exclusive_group()
        again.add_argument("--resume", metavar="JOB_ID", help="finish an interrupted organize job")
        again.add_argument("--rollback", metavar="JOB_ID", help="undo an organize job, newest step first")
        add_job_arguments(parser)

    def handle(self, *args, **options) -> None:
        earlier = options["resume"] or options["rollback"]
        if earlier:
            action = "resume" if options["resume"] else "rollback"
            params = {action: str(job_named(earlier, kind=JobKind.ORGANIZE).pk)}
        else:
            params = self._new_run(options)
        job = command_job(self, options, kind=JobKind.ORGANIZE, params=params, report=self._report)
        if job is None:
            return
        result = job.result or {}
        if options["plan"]:
            self._write_plan(journal_of(job), options["plan"])
        if result.get("failed"):
            raise CommandError(
                f"{result['failed']} files could not be organized (their reasons: /jobs/{job.pk}/?steps=failed, "
                f"or --plan FILE); everything else is done"
            )

    def _report(self, result: dict) -> None:
        self.stdout.write(_summary_line(result))

    def _new_run(self, options) -> dict:
        if not options["catalog_path"] or not options["output_dir"]:
            raise CommandError("give the catalog path and the output folder (or --resume / --rollback JOB_ID)")
        catalog = existing_catalog(options["catalog_path"])
        params = {
            "catalog_path": catalog.path,
            "output_directory": str(Path(options["output_dir"]).expanduser().absolute()),
            "operation": options["operation"],
            "directory_structure": options["structure"],
            "naming_strategy": options["naming"],
            "dry_run": options["dry_run"],
            "verify_checksums": not options["no_verify"],
            "skip_duplicates": options["skip_duplicates"],
            "undated_folder": None if options["skip_undated"] else options["undated_folder"],
            "exclude_output": options["exclude_output"],
        }
        try:
            params["output_directory"] = organize_check(catalog, OrganizeOptions.from_params(params))
        except OrganizeError as exc:
            raise CommandError(str(exc)) from exc
        return params

    def _write_plan(self, journal: Job, path: str) -> None:
        fmt = "csv" if path.lower().endswith(".csv") else "json"
        try:
            with open(path, "w", encoding="utf-8", newline="") as stream:
                count = plan_export(journal=journal, fmt=fmt, stream=stream)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self.stderr.write(f"plan of job {journal.pk}: {count} files written to {path}")


def _summary_line(result: dict) -> str:
    if "rollback" in result:
        return (
            f"rolled back {result.get('rolled_back', 0)} steps; {result.get('kept', 0)} files kept on purpose, "
            f"{result.get('failed', 0)} failed"
        )
    head = "dry run, nothing changed: " if result.get("dry_run") else ""
    return (
        f"{head}{result.get('planned', 0)} planned, {result.get('done', 0)} done, "
        f"{result.get('already_present', 0)} already present, {result.get('skipped', 0)} skipped, "
        f"{result.get('failed', 0)} failed, {result.get('conflicts', 0)} renamed for name conflicts" + _carried(result)
    )


def _carried(result: dict) -> str:
    """ "; with 3 sidecars and 1 file of a pair", or "" when the plan carried none."""
    nouns = (("sidecars", "sidecar", "sidecars"), ("pairs", "file of a pair", "files of pairs"))
    parts = [counted(result[key], one, many) for key, one, many in nouns if result.get(key)]
    return f"; with {' and '.join(parts)}" if parts else ""
