"""Tables of the embedded metric store: one row per series, one per sample."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class MetricSeries(SQLModel, table=True):
    """A metric name plus one label set; labels are canonical JSON (sorted keys) so equal sets collide."""

    __tablename__ = "series"
    __table_args__ = (UniqueConstraint("name", "labels", name="uq_series_name_labels"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(Text, nullable=False, index=True))
    labels: str = Field(sa_column=Column(Text, nullable=False))


class MetricSample(SQLModel, table=True):
    """One value of one series; `ts` is epoch milliseconds (exact, so a repeated write replaces)."""

    __tablename__ = "samples"
    __table_args__ = (
        Index("ix_samples_ts", "ts"),
        {"sqlite_with_rowid": False},  # clustered on (series_id, ts): range scans read contiguous pages
    )

    series_id: int = Field(sa_column=Column(Integer, ForeignKey("series.id", ondelete="CASCADE"),
                                            primary_key=True))
    ts: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    value: float = Field(sa_column=Column(Float(precision=53), nullable=False))
