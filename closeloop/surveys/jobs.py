"""Surveys' jobs in the ledger.

- surveys.response_finished {response, survey, finished}: enqueued once per response when it
  is recorded (finished by the respondent, or closed as partial with finished=false). This is
  the "survey response" event: the handler sends closeloop.surveys.signals.response_recorded,
  whose receivers (the workflows app's, when installed) start the survey's workflows in the
  job's transaction.
- surveys.close_partial_responses (recurring, every 15 minutes): records as partial every
  response idle for longer than its survey's partial_close_hours (default one week).
- surveys.export_responses {export}: builds the zip of a response export (CSV or JSON).
- surveys.delete_old_responses (recurring, hourly): each organization's response retention
  (closeloop.surveys.retention).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from closeloop.jobs.registry import PermanentError, job_handler
from closeloop.jobs.schedule import recurring
from closeloop.surveys import actions, queries, retention
from closeloop.surveys.models import Response
from closeloop.surveys.signals import response_recorded

log = logging.getLogger("closeloop.surveys")


@job_handler(actions.RESPONSE_FINISHED_JOB)
def response_finished(payload: dict, job) -> None:
    response = queries.jobs_response(payload.get("response", ""))
    if response is None:
        raise PermanentError(f"Response {payload.get('response')!r} no longer exists.")
    response_recorded.send(sender=Response, response=response)
    log.info("survey response event for %s (finished=%s)", response.public_id, response.finished)


@recurring("surveys.close_partial_responses", every=timedelta(minutes=15))
def close_partial_responses(payload: dict, job) -> None:
    closed = actions.close_stale_responses()
    if closed:
        log.info("recorded %s partial responses", closed)


# Not atomic: each batch commits on its own (short locks); deleting again is harmless.
@recurring(
    "surveys.delete_old_responses", every=timedelta(hours=1), atomic=False, lease_seconds=600
)
def delete_old_responses(payload: dict, job) -> None:
    deleted = retention.apply()
    if deleted:
        log.info("retention: %s responses deleted", deleted)


@job_handler(actions.EXPORT_JOB, atomic=False, lease_seconds=600)
def export_responses(payload: dict, job) -> None:
    export = queries.export_for_job(payload.get("export", ""))
    if export is None:
        raise PermanentError(f"Export {payload.get('export')!r} no longer exists.")
    try:
        actions.run_export(export)
    except Exception as error:
        actions.fail_export(export, f"{error.__class__.__name__}: {error}")
        raise
