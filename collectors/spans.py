"""Poll spans: started cheaply, their readings one ``metric=value ...`` string per device."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from contextvars import ContextVar

from opentelemetry import context as otel_context
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    set_span_in_context,
)
from opentelemetry.util.types import AttributeValue
from sentio.collectors.attributes import ATTRIBUTE_SETS_CACHED
from sentio.connectors.contract import Reading, ReadingBatch

# A number to 15 significant digits: what a person reads (230.1, not 230.10000000000002), and
# faster to format than the shortest round-trip repr.
NUMBER = "%.15g"
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
UNSET = Status(StatusCode.UNSET)
# The samplers that record every span without a parent (the SDK's default is the first).
ALWAYS_SAMPLED = {
    "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,"
    "remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,"
    "localParentNotSampled:AlwaysOffSampler}",
    "AlwaysOnSampler",
}


class SpanValues:
    """Format samples for a poll span, with one format template per batch layout."""

    def __init__(self) -> None:
        self.templates: dict[int, tuple[object, str, str]] = {}

    def format(self, sample: Reading | ReadingBatch) -> str:
        """Return a sample's values as the poll span records them: ``metric=value ...``."""
        if isinstance(sample, Reading):
            value = sample.value
            text = NUMBER % value if isinstance(value, float | int) else str(value)
            return f"{sample.metric}={text}"
        metrics = sample.metrics
        hit = self.templates.get(id(metrics))
        if hit is None or hit[0] is not metrics or len(metrics) != len(sample.values):
            if len(self.templates) >= ATTRIBUTE_SETS_CACHED:
                self.templates.clear()
            names = [name.replace("%", "%%") for name, _unit in metrics]
            numbers = " ".join(f"{name}={NUMBER}" for name in names)
            anything = " ".join(f"{name}=%s" for name in names)
            hit = self.templates[id(metrics)] = (metrics, numbers, anything)
        values = tuple(sample.values)
        try:
            return hit[1] % values  # a bool is a number here too: 1 or 0, as its metric
        except TypeError:
            pass
        try:
            return hit[2] % values  # a string among the values
        except TypeError:  # values and metrics differ in number: the batch itself raises later
            return ""


class Slot(NonRecordingSpan):
    """The current span of one task's context: the running poll's span context, else none.

    Made current once per task; a poll then only sets and clears ``current``, where attaching
    a new context and detaching it again cost more than the rest of its span.
    """

    def __init__(self, task: asyncio.Task[object] | None) -> None:
        super().__init__(INVALID_SPAN_CONTEXT)
        self.task = task
        self.current = INVALID_SPAN_CONTEXT

    def get_span_context(self) -> SpanContext:
        """Return the span context of the poll running in the task, or the invalid one."""
        return self.current


_SLOT: ContextVar[Slot | None] = ContextVar("sentio_poll_slot", default=None)


def _slot() -> Slot:
    """Return the running task's slot, made current in its context on the task's first poll."""
    slot = _SLOT.get()
    task = asyncio.current_task()
    if slot is None or slot.task is not task:  # a task copies its parent's context, slot too
        slot = Slot(task)
        _SLOT.set(slot)
        otel_context.attach(set_span_in_context(slot))  # left for the task's life
    return slot


class PollSpan:
    """One poll's span while it runs: its context is current; ``end`` hands it to the export."""

    __slots__ = ("attributes", "context", "recording", "slot", "start_ns", "tracer")

    def __init__(
        self, tracer: PollTracer, context: SpanContext, attributes: Mapping[str, AttributeValue],
        recording: bool,
    ) -> None:  # fmt: skip
        self.tracer = tracer
        self.context = context
        self.attributes = attributes
        self.recording = recording
        self.start_ns = time.time_ns()
        self.slot = _slot()
        self.slot.current = context

    def end(
        self, readings: Mapping[str, list[str]], failed: Mapping[str, str], reason: str | None
    ) -> None:
        """Leave the span's context; export it with an event per device read, and any failure."""
        self.slot.current = INVALID_SPAN_CONTEXT
        if not self.recording:
            return
        end_ns = time.time_ns()
        # One string per device: the SDK's encoder walks an array attribute element by element.
        events = tuple(
            Event("readings", {"device": device, "values": " ".join(values)}, end_ns)
            for device, values in readings.items()
        )
        attributes = self.attributes
        if failed:
            attributes = {**attributes, "failed_devices": tuple(sorted(failed))}
        status = UNSET if reason is None else Status(StatusCode.ERROR, reason)
        tracer = self.tracer
        tracer.processor.on_end(
            ReadableSpan(
                "poll", self.context, None, tracer.resource, attributes, events, (),
                SpanKind.INTERNAL, None, status, self.start_ns, end_ns, tracer.scope,
            )
        )  # fmt: skip


class PollTracer:
    """Start poll spans, a span per poll, without the SDK's per-span bookkeeping.

    A poll span is the collector's most frequent object: the SDK's ``Span`` (its attributes
    cleaned on every set, a lock, the sampler's result objects) cost about 40 µs a poll, these
    about 5. The attributes are the device's labels as the collector built them; the finished
    span, as the SDK would have built it, goes to the tracer's span processors (``on_end``
    only: the SDK's own processors do nothing at a start). The tracer's sampler is asked unless
    it samples every root span. The SDK's span limits (``OTEL_SPAN_*_LIMIT``) are not applied:
    the config bounds a poll span's attributes.
    """

    def __init__(self, tracer: Tracer, name: str) -> None:
        """Start spans as ``tracer`` (named ``name``) would; none when it is the SDK's no-op."""
        self.enabled = isinstance(tracer, sdk_trace.Tracer)
        if isinstance(tracer, sdk_trace.Tracer):
            self.processor: SpanProcessor = tracer.span_processor
            self.resource = tracer.resource
            self.sampler = tracer.sampler
            self.ids = tracer.id_generator
        self.scope = InstrumentationScope(name)
        self.always = self.enabled and self.sampler.get_description() in ALWAYS_SAMPLED

    def start(self, attributes: Mapping[str, AttributeValue]) -> PollSpan:
        """Start a poll span with ``attributes`` (kept as they are: not copied, not cleaned)."""
        if not self.enabled:
            return PollSpan(self, INVALID_SPAN_CONTEXT, attributes, False)
        trace_id = self.ids.generate_trace_id()
        recording, sampled, state = True, True, None
        if not self.always:
            kind = SpanKind.INTERNAL
            result = self.sampler.should_sample(None, trace_id, "poll", kind, attributes)
            recording = result.decision is not Decision.DROP  # RECORD_ONLY: not exported
            sampled = result.decision is Decision.RECORD_AND_SAMPLE
            state = result.trace_state
            if result.attributes:
                attributes = {**attributes, **result.attributes}
        flags = SAMPLED if sampled else NOT_SAMPLED
        context = SpanContext(trace_id, self.ids.generate_span_id(), False, flags, state)
        return PollSpan(self, context, attributes, recording)
