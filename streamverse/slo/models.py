"""SLO specifications: one internal shape that native, OpenSLO and Sloth files all load into.

Every indicator reduces to "bad events" and "total events" per time step, which is what
both the array engine and the generated Prometheus rules work from:
- `ratio`: counter selectors (good or bad, and total); events are requests, seconds, ...
- `latency`: a histogram and a threshold; good events are the `le` bucket at the threshold;
- `threshold`: a gauge expression and a comparison; each time slice (1 minute) is one event;
- `query`: raw PromQL ratio templates with `{{.window}}` (Sloth, OpenSLO raw queries), which
  can only be evaluated window by window.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field, field_validator

IndicatorKind = Literal["ratio", "latency", "threshold", "query"]
CompareOp = Literal["<", "<=", ">", ">="]
CalendarUnit = Literal["day", "week", "month", "quarter", "year"]
# occurrences: bad/total events; timeslices: bad slices/slices; ratio_timeslices: mean of slice ratios.
Budgeting = Literal["occurrences", "timeslices", "ratio_timeslices"]
NEGATE: dict[str, str] = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


class Indicator(BaseModel):
    """What counts as good: see the module docstring for the four kinds."""

    kind: IndicatorKind
    good: str | None = None  # counter expression (cumulative)
    bad: str | None = None
    total: str | None = None
    histogram: str | None = None  # histogram base name with matchers, without _bucket
    threshold: float | None = None  # latency threshold (seconds) or gauge threshold
    query: str | None = None  # gauge expression for `threshold`
    op: CompareOp | None = None  # good when `query op threshold`
    error_query: str | None = None  # `query` kind: PromQL with {{.window}}
    total_query: str | None = None


class SLO(BaseModel):
    """One objective, as loaded from any of the three file forms."""

    service: str
    name: str
    description: str = ""
    objective: float = Field(..., description="target ratio of good events, strictly inside (0, 1)")
    window_s: float = 30 * 86400.0  # a calendar window's nominal length (a month is 30d), for the rules
    calendar: CalendarUnit | None = None  # set: the period is calendar-aligned, never rolling
    calendar_count: int = 1  # `2w` calendar: periods of two weeks
    calendar_start: str | None = None  # ISO local time a calendar period starts at (OpenSLO startTime)
    calendar_tz: str = "UTC"  # IANA zone of calendar_start
    budgeting: Budgeting = "occurrences"
    timeslice_target: float | None = None  # a slice is good when its good ratio reaches this
    timeslice_window_s: float = 60.0  # how long one time slice is
    period_ratio: Literal["events", "sloth"] = "events"  # "sloth": Sloth's average of 5m ratios
    spec: str = "streamverse/v1"  # the file form it came from, for sloth_slo_info's sloth_spec
    slice_by: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    indicator: Indicator
    page_alert: str = ""
    ticket_alert: str = ""
    disabled_alerts: list[str] = Field(default_factory=list)  # "page" and/or "ticket"
    alert_labels: dict[str, str] = Field(default_factory=dict)
    alert_annotations: dict[str, str] = Field(default_factory=dict)
    source_file: str = ""
    source_line: int | None = None

    @field_validator("objective")
    @classmethod
    def _inside(cls, value: float) -> float:
        if not (0.0 < value < 1.0) or math.isnan(value):
            raise ValueError(f"objective must be strictly between 0 and 1 (e.g. 0.999 or 99.9%), got {value}")
        return value

    @property
    def id(self) -> str:
        """Sloth's id: service and name joined, unique across the loaded files."""
        return f"{self.service}-{self.name}"

    @property
    def error_budget(self) -> float:
        """The allowed bad ratio, 1 - objective."""
        return 1.0 - self.objective


class LoadError(BaseModel):
    """One problem in one file, with where it is."""

    file: str
    line: int | None = None
    field: str | None = None
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        fld = f": field '{self.field}'" if self.field else ""
        return f"{where}{fld}: {self.message}"
