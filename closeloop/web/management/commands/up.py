"""`closeloop up`: the embedded default — migrations, web server, worker and scheduler in one."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from closeloop.web.startup import check_database_or_exit


class Command(BaseCommand):
    help = "Run migrations, then the web server, a worker and the scheduler until Ctrl+C."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("CLOSELOOP_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, bind, web_workers, **options):
        check_database_or_exit(self.stderr)
        self.stdout.write("Applying database migrations…")
        call_command("migrate", interactive=False, verbosity=0)
        children = self._start_children(bind, web_workers)
        self._announce(bind)
        self._supervise(children)

    def _start_children(self, bind, web_workers):
        closeloop = [sys.executable, "-m", "closeloop"]
        commands = {
            "web": [*closeloop, "web", "--bind", bind, "--workers", str(web_workers)],
            "worker": [*closeloop, "worker"],
            "scheduler": [*closeloop, "scheduler"],
        }
        return {name: subprocess.Popen(argv) for name, argv in commands.items()}

    def _announce(self, bind):
        url = f"http://{bind}"
        lines = [
            "",
            f"Closeloop is running at {url}",
            f"  database: {settings.DATABASES['default']['NAME']}",
        ]
        if settings.CLOSELOOP_OUTBOX_ACTIVE:
            lines.append(f"  email and SMS are caught in the outbox: {url}/outbox/")
        lines += ["Press Ctrl+C to stop.", ""]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))

    def _supervise(self, children):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(
                        f"The {name} process stopped (exit code {child.returncode}); stopping Closeloop."
                    )
                    exit_code = child.returncode or 1
                    stopping = True
            time.sleep(0.5)
        self._stop(children)
        if exit_code:
            raise SystemExit(exit_code)

    def _stop(self, children):
        self.stdout.write("Stopping…")
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 25
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        self.stdout.write("Closeloop stopped.")
