"""`closeloop web`: the production web server (gunicorn), runnable many times behind a proxy."""

import os
import sys

from django.core.management.base import BaseCommand

from closeloop.web.startup import check_database_or_exit


def default_workers() -> int:
    return 2 * (os.cpu_count() or 1) + 1


class Command(BaseCommand):
    help = "Run the Closeloop web server with gunicorn."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("CLOSELOOP_BIND", "127.0.0.1:8000"))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", default_workers()))
        )
        parser.add_argument("--threads", type=int, default=4)
        parser.add_argument("--access-log", action="store_true", help="log every request to stdout")

    def handle(self, *args, bind, workers, threads, access_log, **options):
        check_database_or_exit(self.stderr)
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "closeloop.wsgi:application",
            "--bind",
            bind,
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--graceful-timeout",
            "20",
            "--forwarded-allow-ips",
            os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
            "--no-control-socket",  # several web processes may share a machine
            "--error-logfile",
            "-",
        ]
        if access_log:
            argv += ["--access-logfile", "-"]
        os.execv(sys.executable, argv)  # replace this process: signals go straight to gunicorn
