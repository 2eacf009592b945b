"""Tables of the embedded metric store: one row per series, samples in compressed chunks.

A chunk holds many samples of one series at one resolution (raw, 5m, 1h) as encoded
numpy arrays, so a 30-day read of one series is a few rows, not 43,200.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class MetricSeries(SQLModel, table=True):
    """A metric name plus one label set; labels are canonical JSON (sorted keys) so equal sets collide."""

    __tablename__ = "series"
    __table_args__ = (UniqueConstraint("name", "labels", name="uq_series_name_labels"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(Text, nullable=False, index=True))
    labels: str = Field(sa_column=Column(Text, nullable=False))


class MetricChunk(SQLModel, table=True):
    """Samples of one series in [t_min, t_max] (epoch ms) at one resolution; later ids win on equal ts."""

    __tablename__ = "metric_chunks"
    __table_args__ = (Index("ix_metric_chunks_lookup", "series_id", "res", "t_max"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    series_id: int = Field(sa_column=Column(Integer, ForeignKey("series.id", ondelete="CASCADE"),
                                            nullable=False))
    res: int = Field(sa_column=Column(Integer, nullable=False))  # 0 raw, else bucket seconds
    t_min: int = Field(sa_column=Column(BigInteger, nullable=False))
    t_max: int = Field(sa_column=Column(BigInteger, nullable=False))
    n: int = Field(sa_column=Column(Integer, nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Raw chunks: per-hour bucket summaries (see embedded.summarize), so hour-aligned rate()
    # over long ranges reads ~1/60 of the samples. NULL when the chunk is small or not raw.
    summary: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
