"""Label sets of the embedded store's series, parsed once per process and database.

Series are only ever added, so a query reads just the rows added since it last looked
(usually none) instead of parsing every series' JSON again; the table's count and highest
id are checked each time, so series added by another process, or a database made anew under
the same path, are seen.
"""

from __future__ import annotations

import json
import threading

from sqlalchemy import text
from sqlalchemy.engine import Engine

LabelCache = dict[str | None, tuple[int, list[tuple[int, dict[str, str]]]]]


def labelled_series(engine: Engine, cache: LabelCache, lock: threading.RLock, name: str | None
                    ) -> list[tuple[int, dict[str, str]]]:
    """(series id, labels with `__name__`) of every series of `name` (None: all), oldest first."""
    where, args = ("WHERE name = :n", {"n": name}) if name is not None else ("", {})
    with lock:
        seen, rows = cache.get(name, (0, []))
    with engine.connect() as conn:
        count, top = conn.execute(text(f"SELECT count(*), coalesce(max(id), 0) FROM series {where}"),
                                  args).one()
        if count == len(rows) and top == seen:
            return rows
        if count < len(rows) or top < seen:  # not the database the cache was read from
            seen, rows = 0, []
        extra = "AND" if where else "WHERE"
        sql = f"SELECT id, name, labels FROM series {where} {extra} id > :m ORDER BY id"
        new = conn.execute(text(sql), {**args, "m": seen}).all()
    rows = rows + [(sid, {"__name__": n, **json.loads(lab)}) for sid, n, lab in new]
    with lock:
        cache[name] = (rows[-1][0] if rows else 0, rows)
    return rows
