from django.core.management.base import BaseCommand
from django.db import connection

from closeloop.jobs import registry
from closeloop.jobs.startup import exit_if_database_unusable
from closeloop.jobs.worker import Worker


class Command(BaseCommand):
    help = (
        "Run jobs from the job ledger until stopped. SIGTERM or Ctrl-C finishes the current "
        "batch and exits; run more worker processes to run more jobs at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=100, help="jobs claimed at a time")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=1,
            help="accepted and ignored: a worker runs one job at a time; start more workers",
        )
        parser.add_argument("--once", action="store_true", help="exit when no job is due")
        parser.add_argument(
            "--with-scheduler", action="store_true", help="also enqueue recurring jobs"
        )
        parser.add_argument(
            "--idle-exit",
            type=float,
            metavar="SECONDS",
            help="exit after this many seconds without a due job",
        )

    def handle(self, *args, **options):
        registry.autodiscover()
        exit_if_database_unusable("worker", self.stderr)
        worker = Worker(
            batch_size=max(1, options["batch"]), with_scheduler=options["with_scheduler"]
        )
        extras = ", with scheduler" if options["with_scheduler"] else ""
        self.stdout.write(
            f"Closeloop worker {worker.id} started on {connection.vendor} "
            f"(batch {worker.batch_size}{extras})."
        )
        self.stdout.flush()
        worker.run(once=options["once"], idle_exit=options["idle_exit"])
        self.stdout.write(
            f"Closeloop worker {worker.id} stopped: {worker.succeeded} succeeded, "
            f"{worker.failed} failed."
        )
