"""What surveys tell the apps above them, without importing them.

Surveys sit below workflows and distributions (docs/architecture.md): they announce what
happened to a response here, and the apps that care connect receivers in their AppConfig.ready.
Receivers run in the sender's transaction, so their writes commit or roll back with it.
"""

from __future__ import annotations

from django.dispatch import Signal

# A response was recorded (finished by the respondent, or closed as partial): the
# "survey response" event. Sent from the surveys.response_finished job with response=Response.
response_recorded = Signal()

# A respondent started, finished or left partial the survey of an invitation: sent with
# delivery_id, event ("started", "finished", "partial") and response_id, so that the
# distribution history (SurveyStarted, SurveyFinished …) keeps in step.
invitation_progress = Signal()
