"""The event and task types Closeloop ships; registered when the workflows app is ready."""

from closeloop.workflows import registry
from closeloop.workflows.builtin.json_event import JsonEvent
from closeloop.workflows.builtin.survey_response import SurveyResponseEvent
from closeloop.workflows.builtin.xm_directory import XmDirectoryTask


def register() -> None:
    registry.register_event(JsonEvent())
    registry.register_event(SurveyResponseEvent())
    registry.register_task(XmDirectoryTask())
