import signal
import threading

from django.core.management.base import BaseCommand

from closeloop.jobs import registry
from closeloop.jobs.schedule import Scheduler, recurring_jobs
from closeloop.jobs.startup import exit_if_database_unusable


class Command(BaseCommand):
    help = "Enqueue recurring jobs when they are due. Several schedulers may run safely."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between ticks")
        parser.add_argument("--once", action="store_true", help="tick once and exit")

    def handle(self, *args, **options):
        registry.autodiscover()
        exit_if_database_unusable("scheduler", self.stderr)
        names = ", ".join(entry.name for entry in recurring_jobs()) or "none"
        self.stdout.write(f"Closeloop scheduler started; recurring jobs: {names}.")
        self.stdout.flush()
        scheduler = Scheduler(interval=options["interval"])
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        while True:
            scheduler.tick_if_due()
            if options["once"] or stop.wait(options["interval"]):
                break
        self.stdout.write("Closeloop scheduler stopped.")
