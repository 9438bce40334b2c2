"""Respondent pages under load: gunicorn on PostgreSQL, compared with a bare hello view.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/closeloop_bench \
        .venv/bin/python bench/respondent.py [--seconds 10] [--clients 16] [--workers N]

1. Creates the database if needed, migrates, and makes a published 3-page survey and
   individual links (one per simulated respondent run).
2. Starts gunicorn (gthread, as `closeloop web` does) on this module's `application`: the
   Closeloop project plus one extra Django view, /bench/hello, that returns "hello" through
   the same middleware stack without touching the database.
3. Measures, in the same run: hello requests/s; respondent page views/s and page submits/s
   with `--clients` respondents going through links as fast as they can; then the p99
   latency of a page submit with 50 respondents each submitting one page per second.

The last line is `submits_per_s=… p99_ms=… hello_per_s=… ratio=…` (ratio = submits/hello).
The load generator is Python threads on the same machine, so absolute numbers are a floor.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/closeloop_bench"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PAGE = re.compile(r'name="page" value="(\d+)"')
ANSWERS = {0: {"QID1": "9"}, 1: {"QID2": "1", "QID3": "4"}, 2: {"QID4": "Quick and kind."}}


# The server side: gunicorn imports this module and serves `application`. ------------------


def _server_application():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closeloop.settings")
    from django.core.wsgi import get_wsgi_application

    wsgi = get_wsgi_application()
    from django.http import HttpResponse
    from django.urls import clear_url_caches, path

    from closeloop import urls

    def hello(request):
        return HttpResponse("hello", content_type="text/plain")

    urls.urlpatterns.insert(0, path("bench/hello", hello))
    clear_url_caches()
    return wsgi


application = _server_application() if os.environ.get("CLOSELOOP_BENCH_SERVER") else None


# Setup ----------------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def prepare(links: int) -> list[str]:
    """Migrate, then a published survey and `links` individual link paths."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closeloop.settings")
    django.setup()
    import secrets
    from datetime import timedelta

    from django.core.management import call_command
    from django.urls import reverse
    from django.utils import timezone

    from closeloop.accounts.models import Membership, Organization, Role, User, hash_secret
    from closeloop.directory import actions as directory_actions
    from closeloop.surveys import actions
    from closeloop.surveys.definition import new_definition, new_question
    from closeloop.surveys.models import SurveyLink

    call_command("migrate", verbosity=0)
    suffix = secrets.token_hex(4)
    organization = Organization.objects.create(name=f"Bench {suffix}", brand_id=f"bench-{suffix}")
    user = User.objects.create_user(f"bench-{suffix}@example.com", None)
    Membership.objects.create(organization=organization, user=user, role=Role.OWNER)
    definition = new_definition("Benchmark")
    elements = definition["blocks"][0]["elements"]
    elements += [
        new_question("nps", "QID1"),
        {"type": "page_break"},
        new_question("mc", "QID2"),
        new_question("rating", "QID3"),
        {"type": "page_break"},
        new_question("text", "QID4"),
    ]
    elements[0]["text"] = "How likely are you to recommend ${e://Field/Store}?"
    definition["flow"].insert(
        0, {"type": "embedded_data", "fields": [{"name": "Store", "source": "contact"}]}
    )
    definition["nextQuestion"] = 5
    survey = actions.create_survey(organization, user, "Benchmark", definition)
    actions.publish(survey, user)
    directory = directory_actions.default_directory(organization)
    contacts = [
        directory_actions.upsert_contact(
            directory, {"email": f"r{n}@example.com", "firstName": f"R{n}"}, {"Store": "Oslo"}
        )[0]
        for n in range(50)
    ]
    tokens = [secrets.token_urlsafe(32) for _ in range(links)]
    expires = timezone.now() + timedelta(days=1)
    SurveyLink.objects.bulk_create(
        [
            SurveyLink(
                organization=organization,
                survey=survey,
                token_hash=hash_secret(token),
                contact=contacts[n % len(contacts)],
                expires_at=expires,
            )
            for n, token in enumerate(tokens)
        ],
        batch_size=1000,
    )
    return [reverse("respondent:link", args=[token]) for token in tokens]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "CLOSELOOP_BENCH_SERVER": "1",
        "CLOSELOOP_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}",
    }
    argv = [
        sys.executable, "-m", "gunicorn", "respondent:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "--worker-class", "gthread", "--no-control-socket", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/bench/hello")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    stop_server(process)
    raise RuntimeError("gunicorn did not start")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


# The client side ---------------------------------------------------------------------------


class Client:
    """One keep-alive connection with its own cookies (a browser tab)."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict | None = None):
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                content = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, content.decode("utf-8", "replace")


class Respondent:
    """Goes through individual links page by page; one call to step() = view + submit."""

    def __init__(self, port: int, links, lock: threading.Lock):
        self.client = Client(port)
        self.links, self.lock = links, lock
        self.path: str | None = None

    def _next_link(self) -> str:
        with self.lock:
            if not self.links:
                raise RuntimeError("out of links: raise --links")
            return self.links.pop()

    def view(self) -> tuple[int, str]:
        if self.path is None:
            self.path = self._next_link()
            self.client.cookies.clear()
        status, body = self.client.request("GET", self.path)
        if status != 200:
            raise RuntimeError(f"GET {self.path}: {status}")
        return int(PAGE.search(body).group(1)), CSRF.search(body).group(1)

    def submit(self, page: int, token: str) -> None:
        form = {"page": page, "action": "next", "csrfmiddlewaretoken": token, **ANSWERS[page]}
        status, _ = self.client.request("POST", self.path, form)
        if status != 302:
            raise RuntimeError(f"POST {self.path}: {status}")
        if page == 2:
            self.path = None  # finished: the next view takes a new link


def run_for(seconds: float, clients: int, work) -> list[int]:
    """Run work(worker_index, counters) in `clients` threads for `seconds`."""
    stop = time.monotonic() + seconds
    counters = [[0, 0] for _ in range(clients)]
    errors: list[BaseException] = []

    def loop(index: int) -> None:
        try:
            while time.monotonic() < stop:
                work(index, counters[index])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [sum(c[0] for c in counters), sum(c[1] for c in counters)]


def measure_hello(port: int, seconds: float, clients: int) -> float:
    connections = [Client(port) for _ in range(clients)]

    def work(index, counter):
        status, _ = connections[index].request("GET", "/bench/hello")
        assert status == 200
        counter[0] += 1

    return run_for(seconds, clients, work)[0] / seconds


def measure_respondents(port, seconds, clients, links) -> tuple[float, float]:
    lock = threading.Lock()
    respondents = [Respondent(port, links, lock) for _ in range(clients)]

    def work(index, counter):
        page, token = respondents[index].view()
        counter[0] += 1
        respondents[index].submit(page, token)
        counter[1] += 1

    views, submits = run_for(seconds, clients, work)
    return views / seconds, submits / seconds


def measure_latency(port, seconds, links, respondents_count=50) -> list[float]:
    """Each respondent views a page, then submits it on its one-second tick."""
    lock = threading.Lock()
    respondents = [Respondent(port, links, lock) for _ in range(respondents_count)]
    latencies: list[float] = []
    latencies_lock = threading.Lock()
    start = time.monotonic() + 1.0

    def work(index, counter):
        respondent = respondents[index]
        page, token = respondent.view()
        tick = start + index / respondents_count + counter[0]  # spread over the second
        time.sleep(max(0.0, tick - time.monotonic()))
        began = time.perf_counter()
        respondent.submit(page, token)
        elapsed = (time.perf_counter() - began) * 1000
        with latencies_lock:
            latencies.append(elapsed)
        counter[0] += 1

    run_for(seconds, respondents_count, work)
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2))
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--links", type=int, default=6000)
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("This benchmark runs on PostgreSQL: set DATABASE_URL=postgres://…")
    ensure_database(os.environ["DATABASE_URL"])
    port = free_port()
    os.environ["CLOSELOOP_BASE_URL"] = f"http://127.0.0.1:{port}"
    print(f"preparing {args.links} links …", flush=True)
    links = prepare(args.links)
    server = start_server(port, args.workers, args.threads)
    try:
        print(f"gunicorn: {args.workers} workers x {args.threads} threads; "
              f"{args.clients} clients; {args.seconds:g} s per phase", flush=True)  # fmt: skip
        measure_hello(port, 1.0, args.clients)  # warm up
        hello = measure_hello(port, args.seconds, args.clients)
        print(f"hello: {hello:.0f} requests/s", flush=True)
        views, submits = measure_respondents(port, args.seconds, args.clients, links)
        print(f"respondents: {views:.0f} page views/s, {submits:.0f} page submits/s", flush=True)
        latencies = measure_latency(port, max(args.seconds, 20.0), links)
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        print(
            f"50 respondents at one page per second: {len(latencies)} submits, "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, mean {statistics.mean(latencies):.1f} ms",
            flush=True,
        )
    finally:
        stop_server(server)
    print(
        f"submits_per_s={submits:.1f} p99_ms={p99:.1f} hello_per_s={hello:.1f} "
        f"ratio={submits / hello:.3f}"
    )


if __name__ == "__main__":
    main()
