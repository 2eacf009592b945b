"""Prometheus 2.42's own PromQL test scripts, run against the embedded store's engine.

Each `eval` case loads its series into a fresh embedded store and evaluates at the given
instant. A case passes when the answer matches (values like Prometheus' test.go); it may
be refused only with our explicit PromQLUnsupported error that names the feature; any
other answer or error fails the test. A table of the counts per file is printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collectors.promql_script import Outcome, almost_equal, parse_script, parse_values, run_script

SCRIPTS = Path("/work/shared/conformance/promql-v2.42")
FILES = sorted(SCRIPTS.glob("*.test")) if SCRIPTS.is_dir() else []


def test_script_reader_follows_the_format():
    assert parse_values("1+1x3 _ stale -Inf 0x2 _x2 8000-10x1") [:4] == [1.0, 2.0, 3.0, 4.0]
    values = parse_values("0+10x2 _x2 7x1 -2-3x1")
    assert values == [0.0, 10.0, 20.0, None, None, 7.0, 7.0, -2.0, -5.0]
    cmds = parse_script("load 5m\n  m{a=\"b\"} 1 2\n\neval instant at 5m m\n  m{a=\"b\"} 2\n"
                        "eval_fail instant at 1h30m x(\nclear\neval instant at 1ms 1\n  1\n")
    load, first, fail, clear, scalar = cmds
    assert load.interval_ms == 300_000 and list(load.series.values())[0][1] == [1.0, 2.0]
    assert first.at_ms == 300_000 and first.expected == [({"__name__": "m", "a": "b"}, 2.0)]
    assert fail.fail and fail.at_ms == 5_400_000 and clear == "clear" and scalar.expected == [(None, 1.0)]
    assert almost_equal(float("nan"), float("nan")) and almost_equal(1.0, 1.0 + 1e-9)
    assert not almost_equal(1.0, 1.001) and not almost_equal(0.0, 1e-300)


@pytest.mark.skipif(not FILES, reason=f"{SCRIPTS} is not present")
def test_prometheus_promql_scripts(tmp_path):
    results: dict[str, list[Outcome]] = {}
    for path in FILES:
        results[path.name] = run_script(path, tmp_path)
    print(f"\n{'file':<22}{'cases':>7}{'passed':>8}{'refused':>9}{'failed':>8}")
    for name, outs in results.items():
        counts = {s: sum(o.status == s for o in outs) for s in ("passed", "refused", "failed")}
        print(f"{name:<22}{len(outs):>7}{counts['passed']:>8}{counts['refused']:>9}{counts['failed']:>8}")
    every = [o for outs in results.values() for o in outs]
    passed = sum(o.status == "passed" for o in every)
    print(f"{'total':<22}{len(every):>7}{passed:>8}{sum(o.status == 'refused' for o in every):>9}"
          f"{sum(o.status == 'failed' for o in every):>8}")
    failed = [f"{name}:{o.case.line}: {o.case.expr}\n    {o.detail}" for name, outs in results.items()
              for o in outs if o.status == "failed"]
    refused = [f"{name}:{o.case.line}: {o.detail}" for name, outs in results.items()
               for o in outs if o.status == "refused"]
    for line in refused:
        print("refused", line)
    assert not failed, f"{len(failed)} cases answer differently from Prometheus:\n" + "\n".join(failed)
    assert len(every) == 566
    assert passed >= 0.95 * len(every)
