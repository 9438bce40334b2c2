"""Email distribution throughput: N recipients with piped text, sent by real `closeloop worker`
processes over SMTP to Postfix's smtp-sink, next to a bare smtplib loop to the same sink.

    .venv/bin/python bench/distributions.py [--recipients 100000] [--workers 3]
                                            [--baseline-messages 10000] [--job-batch 1]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/closeloop_bench_distributions
(created if missing). The contacts and the mailing list are made once per size and reused;
earlier benchmark distributions and the contacts' message log are removed first, so every run
sends to contacts nobody has written to yet.

- sink: `smtp-sink -c 127.0.0.1:<port> 1000` (Debian's postfix package, installed with apt-get
  when missing); its running counter says when each message was accepted.
- baseline (sink_per_s): pre-built messages of the same shape sent with smtplib.sendmail in a
  loop over one connection: what the sink accepts from the cheapest possible sender (the best
  of 3 runs: a loop of round trips varies a lot from run to run on a small virtual machine).
- distribution (messages_per_s): from "send now" (create_distribution) to the last message
  accepted by the sink, with --workers worker processes already running, the SMTP backend
  configured through EMAIL_URL. peak_rss_mb is the largest peak resident set of a worker.

The last line is machine-readable: messages_per_s=… sink_per_s=… ratio=… peak_rss_mb=…
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import smtplib
import subprocess
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from common import (
    ensure_postgres_database,
    free_port,
    set_up_django,
    start_workers,
    stop,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/closeloop_bench_distributions"
SINK = "/usr/sbin/smtp-sink"
BRAND = "bench-distributions"
REPORT_EVERY = 10  # seconds between progress lines
FOLLOW_EVERY = 0.02  # seconds between reads of the sink's counter
BASELINE_RUNS = 3  # the baseline's best run is kept
FIRST = ["Jane", "John", "Émile", "Aiko", "Carlos", "Fatima", "Liam", "Mia", "Noah", "Olga"]
LAST = ["Doe", "Smith", "Zola", "Tanaka", "García", "Khan", "Murphy", "Rossi", "Brown", "Ivanova"]
SUBJECT = "${m://FirstName}, how was your visit to ${e://Field/Store}?"
HTML_BODY = (
    "<p>Hello ${m://FirstName} ${m://LastName},</p>"
    "<p>Thank you for shopping at ${e://Field/Store} (${e://Field/Tier} member). "
    "Would you tell us how it went? It takes two minutes.</p>"
    "<p>${l://SurveyLink?d=Take the survey}</p>"
    "<p style='font-size:small'>Not interested? ${l://OptOutLink?d=Unsubscribe}</p>"
)
TEXT_BODY = (
    "Hello ${m://FirstName} ${m://LastName},\n\n"
    "Thank you for shopping at ${e://Field/Store} (${e://Field/Tier} member). "
    "Would you tell us how it went? It takes two minutes.\n\n"
    "${l://SurveyURL}\n\nNot interested? ${l://OptOutURL}\n"
)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--baseline-messages", type=int, default=10_000)
    # Send jobs (500 deliveries each) claimed at a time by a worker: 1 shares the chunks out
    # evenly, so that no worker is left with several while the others are idle at the end.
    parser.add_argument("--job-batch", type=int, default=1)
    return parser.parse_args()


# The sink ------------------------------------------------------------------------------------


def ensure_sink() -> None:
    if Path(SINK).exists():
        return
    print("smtp-sink is missing: installing Debian's postfix package (apt-get install postfix)")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    apt = shutil.which("apt-get") or "apt-get"
    subprocess.run([apt, "install", "-y", "postfix"], check=True, env=env)
    if not Path(SINK).exists():
        raise SystemExit(f"{SINK} is still missing after installing postfix")


class Sink:
    """smtp-sink on a free port; `accepted` follows its running counter (mesg=N)."""

    def __init__(self):
        self.port = free_port()
        command = [SINK, "-c", f"127.0.0.1:{self.port}", "1000"]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "nobody"]  # smtp-sink refuses to run as root
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.accepted = 0
        self.changed = threading.Condition()
        threading.Thread(target=self._follow, daemon=True).start()
        self._wait_until_listening()

    def _follow(self) -> None:
        tail = b""
        while chunk := os.read(self.process.stdout.fileno(), 65536):
            tail = (tail + chunk)[-200:]
            counts = re.findall(rb"mesg=(\d+)", tail)
            if counts:
                with self.changed:
                    self.accepted = int(counts[-1])
                    self.changed.notify_all()
            # The counter is rewritten after every message: rather than wake up for each
            # update (a wakeup per message on the cores the senders share), read 20 ms of them.
            time.sleep(FOLLOW_EVERY)

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                smtplib.SMTP("127.0.0.1", self.port, timeout=1).quit()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"smtp-sink did not start: {self.process.poll()}")

    def wait_for(self, count: int, idle_timeout: float, alive=lambda: True, report=None) -> float:
        """Wait until `count` messages were accepted; the moment (time.time()) it happened.
        Gives up when nothing arrives for idle_timeout seconds or alive() turns false;
        calls report(accepted) every few seconds."""
        last_change, last_seen = time.monotonic(), -1
        next_report = time.monotonic() + REPORT_EVERY
        with self.changed:
            while self.accepted < count:
                if self.accepted != last_seen:
                    last_change, last_seen = time.monotonic(), self.accepted
                if time.monotonic() - last_change > idle_timeout or not alive():
                    raise SystemExit(f"the sink accepted only {self.accepted} of {count}")
                if report is not None and time.monotonic() >= next_report:
                    next_report += REPORT_EVERY
                    report(self.accepted)
                self.changed.wait(0.5)
            return time.time()

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=10)


# Data ----------------------------------------------------------------------------------------


def person(n: int) -> tuple[dict, dict]:
    first, last = FIRST[n % len(FIRST)], LAST[(n // 10) % len(LAST)]
    fields = {
        "firstName": first,
        "lastName": last,
        "email": f"{first.lower()}.{n}@example.com".replace("é", "e"),
        "extRef": f"user_{n}",
    }
    return fields, {"Store": f"Store {n % 300}", "Tier": ("Gold", "Silver", "Bronze")[n % 3]}


def bench_organization():
    from closeloop.accounts.models import Membership, Organization, Role, User

    organization, _ = Organization.objects.get_or_create(
        brand_id=BRAND, defaults={"name": "Bench distributions"}
    )
    user = User.objects.filter(email="bench@distributions.test").first()
    if user is None:
        user = User.objects.create_user("bench@distributions.test", "bench password 1234")
    Membership.objects.get_or_create(
        organization=organization, user=user, defaults={"role": Role.OWNER}
    )
    return organization, user


def forget_earlier_runs(organization) -> None:
    """Raw deletes (a cascading delete would load every row) of earlier bench distributions
    and of the message log, so frequency rules see contacts never written to."""
    from django.db import connection

    from closeloop.directory.models import ContactMessageLog
    from closeloop.distributions.models import Delivery, Distribution
    from closeloop.surveys.models import SurveyLink

    with connection.cursor() as cursor:
        for model in (Delivery, SurveyLink, Distribution, ContactMessageLog):
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} WHERE organization_id = %s",
                [organization.pk],
            )
        cursor.execute("DELETE FROM jobs_job WHERE kind LIKE 'distributions.%%'")
        for model in (Delivery, SurveyLink, ContactMessageLog):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def mailing_list_of(organization, count: int):
    """A list of `count` contacts, made once (bulk upserts of 2,000) and reused."""
    from django.db import transaction

    from closeloop.directory import actions as directory_actions
    from closeloop.directory.models import MailingList

    name = f"Bench {count}"
    directory = directory_actions.default_directory(organization)
    existing = MailingList.objects.filter(directory=directory, name=name).first()
    if existing is not None and existing.memberships.count() == count:
        return existing
    if existing is not None:
        existing.delete()
    mailing_list = directory_actions.create_mailing_list(directory, name)
    started = time.perf_counter()
    for start in range(0, count, 2000):
        rows = [person(n) for n in range(start, min(count, start + 2000))]
        with transaction.atomic():
            directory_actions.upsert_contacts_bulk(directory, rows, mailing_list=mailing_list)
    print(f"made a mailing list of {count} contacts in {time.perf_counter() - started:.1f} s")
    return mailing_list


def published_survey(organization, user):
    from closeloop.surveys import actions as survey_actions
    from closeloop.surveys.models import Survey

    survey = Survey.objects.filter(organization=organization, name="Bench survey").first()
    if survey is None:
        from closeloop.surveys.definition import new_definition, new_question

        definition = new_definition("How did we do?")
        definition["blocks"][0]["elements"].append(new_question("nps", "QID1"))
        definition["nextQuestion"] = 2
        survey = survey_actions.create_survey(organization, user, "Bench survey", definition)
        survey_actions.publish(survey, user)
    return survey


# Baseline ------------------------------------------------------------------------------------


def prebuilt_messages(count: int) -> list[tuple[str, bytes]]:
    """Messages shaped like the distribution's (both parts, the same headers), built before
    the clock starts."""
    messages = []
    for n in range(count):
        (fields, embedded) = person(n)
        message = EmailMessage()
        message["Subject"] = f"{fields['firstName']}, how was your visit to {embedded['Store']}?"
        message["From"] = "Bench <noreply@example.com>"
        message["To"] = fields["email"]
        message["Message-ID"] = f"<bench.{n}@example.com>"
        message["List-Unsubscribe"] = f"<https://example.com/t/u/{n:040d}/>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        link = f"https://example.com/jfe/l/{n:043d}/"
        message.set_content(f"Hello {fields['firstName']},\n\n{link}\n")
        message.add_alternative(
            f'<p>Hello {fields["firstName"]},</p><a href="{link}">go</a>', "html"
        )
        messages.append((fields["email"], message.as_bytes()))
    return messages


def run_baseline(sink: Sink, count: int) -> float:
    """The best of BASELINE_RUNS loops: one loop waits on a round trip per SMTP command, and
    on this 2-vCPU virtual machine its rate varies from one run to the next by up to 4x with
    where the two processes happen to be scheduled; the best is the sink's capacity."""
    messages = prebuilt_messages(count)
    rates = []
    for _run in range(BASELINE_RUNS):
        before = sink.accepted
        smtp = smtplib.SMTP("127.0.0.1", sink.port)
        started = time.time()
        for recipient, body in messages:
            smtp.sendmail("noreply@example.com", [recipient], body)
        smtp.quit()
        ended = sink.wait_for(before + count, idle_timeout=30)
        elapsed = ended - started
        print(
            f"baseline: smtplib sent {count} pre-built messages over one connection "
            f"in {elapsed:.2f} s"
        )
        rates.append(count / elapsed)
    return max(rates)


# The distribution ----------------------------------------------------------------------------


def start_send_workers(url: str, count: int, sink: Sink, job_batch: int) -> list[subprocess.Popen]:
    env = os.environ | {"DATABASE_URL": url, "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}"}
    return start_workers(env, count, "--batch", str(job_batch))


def peak_rss_mb(process: subprocess.Popen) -> float:
    """VmHWM: the largest resident set the process has had so far."""
    return _status_mb(process, "VmHWM")


def current_rss_mb(process: subprocess.Popen) -> float:
    return _status_mb(process, "VmRSS")


def _status_mb(process: subprocess.Popen, field: str) -> float:
    try:
        status = Path(f"/proc/{process.pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(rf"{field}:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


def run_distribution(
    url: str, sink: Sink, recipients: int, workers: int, job_batch: int
) -> tuple[float, float]:
    from django.db import connections

    from closeloop.distributions import actions
    from closeloop.distributions.models import Delivery, DeliveryStatus

    organization, user = bench_organization()
    forget_earlier_runs(organization)
    mailing_list = mailing_list_of(organization, recipients)
    survey = published_survey(organization, user)
    connections.close_all()
    processes = start_send_workers(url, workers, sink, job_batch)
    try:
        time.sleep(3)  # let the workers start (Django set-up) before the clock starts
        if any(process.poll() is not None for process in processes):
            raise SystemExit("a worker exited at start-up")
        before = sink.accepted
        started = time.time()
        distribution = actions.create_distribution(
            organization,
            survey,
            owner=user,
            mailing_list=mailing_list,
            subject=SUBJECT,
            html_body=HTML_BODY,
            text_body=TEXT_BODY,
            from_name="Åsa at Bench Stores",
        )

        def report(accepted: int) -> None:
            rss = ", ".join(f"{current_rss_mb(process):.0f}" for process in processes)
            print(
                f"  … {accepted - before} accepted after {time.time() - started:.0f} s; "
                f"worker RSS {rss} MB",
                flush=True,
            )

        ended = sink.wait_for(
            before + recipients,
            idle_timeout=60,
            alive=lambda: all(process.poll() is None for process in processes),
            report=report,
        )
        peak = max(peak_rss_mb(process) for process in processes)
    finally:
        for process in processes:
            stop(process)
    elapsed = ended - started
    sent = Delivery.objects.filter(distribution=distribution, status=DeliveryStatus.SUCCESS)
    if sent.count() != recipients:
        raise SystemExit(f"only {sent.count()} of {recipients} deliveries are Success")
    print(
        f"distribution: {recipients} messages through {workers} workers in {elapsed:.2f} s "
        f"(send now to the last message accepted); worker peak RSS {peak:.0f} MB"
    )
    return recipients / elapsed, peak


def main() -> None:
    arguments = parse_arguments()
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/distributions.py measures PostgreSQL: give a postgres:// URL")
    ensure_sink()
    ensure_postgres_database(url)
    set_up_django(url)
    sink = Sink()
    try:
        sink_per_second = run_baseline(sink, arguments.baseline_messages)
        messages_per_second, peak = run_distribution(
            url, sink, arguments.recipients, arguments.workers, arguments.job_batch
        )
    finally:
        sink.stop()
    ratio = messages_per_second / sink_per_second
    print(
        f"messages_per_s={messages_per_second:.0f} sink_per_s={sink_per_second:.0f} "
        f"ratio={ratio:.2f} peak_rss_mb={peak:.0f}"
    )


if __name__ == "__main__":
    main()
