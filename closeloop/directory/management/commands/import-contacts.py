"""closeloop import-contacts FILE --directory POOL_… [--list CG_…]: import a CSV now, in this
process, with a progress bar; the report is kept like an import from the web page."""

from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from closeloop.directory import actions, imports
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.models import ContactImport, Directory, ImportStatus, MailingList


class Command(BaseCommand):
    help = "Import contacts from a UTF-8 CSV file into a directory (dedup rules apply)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file; first row = column names")
        parser.add_argument("--directory", required=True, metavar="POOL_…")
        parser.add_argument("--list", metavar="CG_…", help="also add everyone to this list")
        parser.add_argument("--chunk", type=int, default=imports.CHUNK_ROWS, help="rows a commit")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        directory = Directory.objects.filter(public_id=options["directory"]).first()
        if directory is None:
            raise CommandError(f"No directory {options['directory']}.")
        mailing_list = None
        if options["list"]:
            mailing_list = MailingList.objects.filter(
                public_id=options["list"], directory=directory
            ).first()
            if mailing_list is None:
                raise CommandError(f"No mailing list {options['list']} in {directory.public_id}.")
        with path.open("rb") as handle:
            try:
                actions.check_import_file(handle)
            except InvalidValue as error:
                raise CommandError(str(error)) from None
            contact_import = ContactImport(
                organization_id=directory.organization_id,
                directory=directory,
                mailing_list=mailing_list,
                original_name=path.name[:255],
            )
            contact_import.file.save("contacts.csv", File(handle), save=False)
        contact_import.save()
        console = Console(file=self.stdout, stderr=False)
        with Progress(
            TextColumn("[bold]Importing[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task(path.name, total=None)

            def progress(current: ContactImport) -> None:
                bar.update(task, completed=current.processed_rows, total=current.total_rows)

            imports.run_import(
                contact_import, progress=progress, chunk_rows=max(1, options["chunk"])
            )
        self._report(console, contact_import)
        if contact_import.status == ImportStatus.FAILED:
            raise CommandError(contact_import.error)

    def _report(self, console: Console, item: ContactImport) -> None:
        console.print(
            f"Import {item.pk}: {item.created_count} created, {item.updated_count} updated, "
            f"{item.skipped_count} skipped, {item.rejected_count} rejected "
            f"(of {item.processed_rows} rows)."
        )
        for rejection in item.rejections[:20]:
            console.print(f"  row {rejection['row']}: {rejection['reason']}", markup=False)
        if item.rejected_count > 20:
            console.print(f"  … and {item.rejected_count - 20} more: see the import page.")
