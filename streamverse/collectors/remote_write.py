"""Prometheus remote write 1.0 into the metric store: point an existing Prometheus at us.

The body is a snappy-compressed (block format) protobuf `prometheus.WriteRequest`, as the
remote-write spec defines it. The message types are declared here from the spec's
`types.proto` / `remote.proto` (only the fields 1.0 senders fill) and decoded by the
protobuf runtime; snappy is `cramjam`. A body that does not decode is refused whole.
"""

from __future__ import annotations

import math
import struct

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from streamverse.errors import UsageError
from streamverse.metricstore import MetricStore, Sample

MAX_BODY = 32 * 1024 * 1024


class RemoteWriteError(UsageError):
    """A request the spec does not allow; the sender should not retry it (HTTP 400)."""


def _message_classes() -> tuple[type[Message], ...]:
    """prometheus.WriteRequest and friends, built from a FileDescriptorProto (no generated code)."""
    fdp = descriptor_pb2.FileDescriptorProto(name="streamverse_prompb.proto", package="prometheus",
                                             syntax="proto3")
    f = descriptor_pb2.FieldDescriptorProto
    rep, opt = f.LABEL_REPEATED, f.LABEL_OPTIONAL

    def msg(name: str, fields: list[tuple[str, int, int, int, str | None]]) -> None:
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = type_name

    msg("Label", [("name", 1, f.TYPE_STRING, opt, None), ("value", 2, f.TYPE_STRING, opt, None)])
    msg("Sample", [("value", 1, f.TYPE_DOUBLE, opt, None), ("timestamp", 2, f.TYPE_INT64, opt, None)])
    msg("TimeSeries", [("labels", 1, f.TYPE_MESSAGE, rep, ".prometheus.Label"),
                       ("samples", 2, f.TYPE_MESSAGE, rep, ".prometheus.Sample")])
    msg("WriteRequest", [("timeseries", 1, f.TYPE_MESSAGE, rep, ".prometheus.TimeSeries")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{n}"))
                 for n in ("WriteRequest", "TimeSeries", "Label", "Sample"))


WriteRequest, TimeSeries, Label, ProtoSample = _message_classes()


def decode(body: bytes) -> list[Sample]:
    """The samples of one remote-write request; RemoteWriteError when it is not one."""
    if len(body) > MAX_BODY:
        raise RemoteWriteError(f"request body over {MAX_BODY} bytes; lower queue_config.max_samples_per_send")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise RemoteWriteError(f"body is not snappy (block format) compressed: {exc}") from None
    req = WriteRequest()
    try:
        req.ParseFromString(raw)
    except DecodeError as exc:
        raise RemoteWriteError(f"body is not a prometheus.WriteRequest: {exc}") from None
    out: list[Sample] = []
    for ts in req.timeseries:
        labels = {lb.name: lb.value for lb in ts.labels}
        name = labels.pop("__name__", "")
        if not name:
            raise RemoteWriteError("a time series without __name__")
        for s in ts.samples:
            if math.isnan(s.value) and _is_stale(s.value):
                continue  # a staleness marker: the series ended, there is no value to keep
            out.append(Sample(name, labels, s.timestamp / 1000.0, s.value))
    return out


_STALE_BITS = 0x7FF0000000000002


def _is_stale(value: float) -> bool:
    """Prometheus's staleness marker is one particular NaN bit pattern."""
    return struct.unpack("<Q", struct.pack("<d", value))[0] == _STALE_BITS


def encode(samples: list[Sample]) -> bytes:
    """A remote-write body for `samples` (for tests and for forwarding): snappy-compressed WriteRequest."""
    req = WriteRequest()
    by_series: dict[tuple[str, tuple[tuple[str, str], ...]], list[Sample]] = {}
    for s in samples:
        by_series.setdefault((s.name, tuple(sorted(s.labels.items()))), []).append(s)
    for (name, labels), group in by_series.items():
        ts = req.timeseries.add()
        for k, v in sorted([("__name__", name), *labels]):
            ts.labels.add(name=k, value=v)
        for s in group:
            ts.samples.add(value=s.value, timestamp=round(s.timestamp * 1000))
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def receive(store: MetricStore, body: bytes) -> int:
    """Decode and store one request; returns the samples stored (visible to queries at once)."""
    samples = decode(body)
    if samples:
        store.write(samples)
        store.flush()
    return len(samples)
