"""Read SLO files in any form (native, Sloth prometheus/v1 and its CRD, OpenSLO v1) into `SLO` models.

Each form has its own parser in `streamverse.slo.forms`; this module reads the YAML, tells the
forms apart and checks what spans files (duplicate ids, OpenSLO references). Every problem is
reported with its file, line and field; one bad SLO does not stop the others in the same file
or run from loading, so a typo never hides the whole fleet.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from streamverse.slo.forms import native, openslo, sloth
from streamverse.slo.forms.common import (
    DEFAULT_PERIOD_S,
    Doc,
    LoadOptions,
    LoadResult,
    read_documents,
    render_window,
)
from streamverse.slo.models import SLO, LoadError

__all__ = [
    "DEFAULT_PERIOD_S",
    "LoadOptions",
    "LoadResult",
    "default_slo_file",
    "detect_form",
    "load_files",
    "load_text",
    "read_documents",
    "render_window",
]

_NOT_SLO = (
    "is not an SLO file: expected version: streamverse/v1, version: prometheus/v1 (Sloth), "
    "apiVersion: sloth.slok.dev/v1 with kind: PrometheusServiceLevel, or apiVersion: openslo/v1"
)


def detect_form(data: Any) -> str | None:
    """'native', 'sloth', 'sloth-crd', 'openslo' or 'unknown-version' from a document's header."""
    if not isinstance(data, dict):
        return None
    if "apiVersion" in data:
        api = str(data["apiVersion"])
        if data.get("kind") == sloth.CRD_KIND or api.startswith("sloth.slok.dev/"):
            return "sloth-crd"
        if api.lower().startswith("openslo/"):
            return "openslo"
        return None
    if "version" in data:
        version = str(data["version"])
        if version.startswith("streamverse/"):
            return "native"
        if version.startswith("prometheus/"):
            return "sloth"
        return "unknown-version"
    if "slos" in data and "service" in data:
        return "native"
    return None


def _split(docs: list[Doc]) -> list[Doc]:
    """A top-level YAML list of objects (as OpenSLO's SDK writes them) is one document per item."""
    out = []
    for doc in docs:
        if isinstance(doc.data, list):
            out.extend(doc.item(i) for i in range(len(doc.data)))
        else:
            out.append(doc)
    return out


def _read(text: str, file: str, result: LoadResult) -> list[Doc]:
    try:
        return _split(read_documents(text, file))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        result.errors.append(
            LoadError(file=file, line=mark.line + 1 if mark else None, message=f"invalid YAML: {problem}")
        )
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. an unhashable mapping key
        result.errors.append(LoadError(file=file, message=f"invalid YAML: {exc}"))
    return []


def _dispatch(docs: list[Doc], result: LoadResult, options: LoadOptions) -> None:
    """Each document to its form's parser; OpenSLO documents together, as they refer to each other."""
    pending = []
    for i, doc in enumerate(docs):
        form = detect_form(doc.data)
        if form == "native":
            native.parse(doc, result, options)
        elif form == "sloth":
            sloth.parse_prometheus_v1(doc, result, options)
        elif form == "sloth-crd":
            sloth.parse_crd(doc, result, options)
        elif form == "openslo":
            pending.append(doc)
        elif form == "unknown-version":
            version = doc.data["version"]
            result.errors.append(
                doc.error(
                    ("version",),
                    f"unsupported version {version!r} (supported: prometheus/v1, streamverse/v1)",
                )
            )
        elif doc.data is not None:
            where = (
                ("apiVersion",) if isinstance(doc.data, dict) and "apiVersion" in doc.data else ("version",)
            )
            result.errors.append(doc.error(where, f"document {i + 1} {_NOT_SLO}"))
    if pending:
        openslo.parse(pending, result, options)


def load_text(
    text: str, file: str, result: LoadResult | None = None, options: LoadOptions | None = None
) -> LoadResult:
    """SLOs from the text of one file (any of the forms)."""
    result = result if result is not None else LoadResult()
    _dispatch(_read(text, file, result), result, options or LoadOptions())
    return result


def load_files(paths: Iterable[Path | str], options: LoadOptions | None = None) -> LoadResult:
    """SLOs from many files; duplicate ids across files are errors, OpenSLO refs may span files."""
    result = LoadResult()
    docs: list[Doc] = []
    for path in paths:
        p = Path(path)
        try:
            text = p.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            result.errors.append(LoadError(file=str(p), message=f"cannot read: {reason}"))
            continue
        docs.extend(_read(text, str(p), result))
    _dispatch(docs, result, options or LoadOptions())
    seen: dict[str, SLO] = {}
    unique = []
    for slo in result.slos:
        if slo.id in seen:
            first = seen[slo.id]
            result.errors.append(
                LoadError(
                    file=slo.source_file,
                    line=slo.source_line,
                    field="name",
                    message=f"SLO id {slo.id!r} already defined at {first.source_file}:{first.source_line}",
                )
            )
            continue
        seen[slo.id] = slo
        unique.append(slo)
    result.slos = unique
    return result


def default_slo_file() -> Path:
    """The shipped default SLO set."""
    return Path(__file__).parent / "data" / "default_slos.yaml"
