"""Piped text in workflows: `~{ch://<event or task id>/<field or $.json.path>}`.

Only the run's own fields are rendered here: `~{ch://…}` and `${date://…}`. Every other
piped field (`${m://…}`, `${e://…}`, `${l://…}`, `${q://…}` …) names something of a recipient
or a response that the run does not have; it is left as written for the task to render (a
Distribute survey task's message is filled in per contact by the distribution).

Pure Python, no Django. A *step* is the event or an earlier task: it has an id, named values
(the event's mapped fields, a task's output) and a document that `$` paths walk (the raw
event payload, the task's output). The event also answers to the id "event".

    context = run_context({"EV_1": Step(values, document), "TA_1": Step(output, output)})
    piping.render("Hello ~{ch://EV_1/firstName}", context, escape_html=False)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from closeloop import piping
from closeloop.workflows import mapping

EVENT_ALIAS = "event"
RUN_SCHEMES = frozenset({"ch", "date"})


@dataclass(frozen=True)
class Step:
    values: Mapping = field(default_factory=dict)
    document: object = None


class LazyStep:
    """A step whose document is loaded on first use (most tasks pipe no `$` path, and
    parsing an event's payload again for every task would be wasted)."""

    def __init__(self, values: Mapping, load_document: Callable[[], object]):
        self.values = values
        self._load_document = load_document

    @functools.cached_property
    def document(self) -> object:
        return self._load_document()


def resolve_path(document: object, selector: str) -> object:
    """The value at a JSONPath: one value, a list when several match, None when none does."""
    try:
        found = mapping.compile_path(selector).find(document).values()
    except Exception:  # an invalid path renders empty at run time, like an unknown field
        return None
    if not found:
        return None
    return found[0] if len(found) == 1 else found


def resolver(steps: Mapping[str, Step | LazyStep]):
    def resolve(item: piping.Field) -> object:
        step = steps.get(item.key)
        if step is None:
            return None
        selector = item.selector
        if selector.startswith("$"):
            return resolve_path(step.document, selector)
        return step.values.get(selector)

    return resolve


def run_context(steps: Mapping[str, Step | LazyStep], now: datetime | None = None) -> dict:
    context: dict = {"ch": resolver(steps)}
    if now is not None:
        context["now"] = now
    return context


def render_value(value: object, context: Mapping) -> object:
    """Every string in a JSON-like config with its run fields rendered (plain text, no
    escaping); other piped fields are kept as written."""
    if isinstance(value, str):
        return render_run_fields(value, context) if "{" in value else value
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def render_run_fields(text: str, context: Mapping) -> str:
    out = []
    for segment in piping.parse(text):
        if isinstance(segment, piping.Text):
            out.append(segment.value)
        elif segment.scheme in RUN_SCHEMES:
            out.append(piping.render(segment.raw, context, escape_html=False))
        else:
            out.append(segment.raw)
    return "".join(out)


def availability(known: Mapping[str, set[str]]) -> dict:
    """What `piping.unknown_fields` accepts: ch fields of known steps (a known name, or any
    valid JSONPath), and dates."""

    def known_ch(item: piping.Field) -> bool:
        names = known.get(item.key)
        if names is None:
            return False
        selector = item.selector
        if selector.startswith("$"):
            try:
                mapping.compile_path(selector)
            except ValueError:
                return False
            return True
        return selector in names

    return {"ch": known_ch, "date": None}


def unknown(text: str, known: Mapping[str, set[str]]) -> list[piping.Field]:
    """The piped fields of `text` that the run cannot fill in: run fields that will render
    empty (or are malformed), and fields of other schemes, which the task receives as written."""
    return piping.unknown_fields(text, availability(known))


def is_run_field(item: piping.Field) -> bool:
    return item.scheme in RUN_SCHEMES


def field_token(step_id: str, name: str) -> str:
    return f"~{{ch://{step_id}/{name}}}"
