"""Bad price catalogs fail with the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamverse.costs.catalog import load_budgets, load_prices
from streamverse.errors import ConfigError
from streamverse.platform.topology import load_topology

REGIONS = [r.name for r in load_topology().regions]


def _default_text() -> str:
    from importlib import resources

    return resources.files("streamverse.costs").joinpath("data", "prices.yaml").read_text()


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_catalog_covers_the_topology() -> None:
    cat = load_prices(regions=REGIONS)
    assert set(cat.cdn_egress) == set(REGIONS)
    assert load_budgets().budgets["cdn_egress"] > 0


@pytest.mark.parametrize(
    ("old", "new", "field", "needle", "words"),
    [
        ("  sa-east:  # South America", "  mars-1:", "cdn_egress.mars-1", "mars-1:", "unknown region"),
        ("  cold: 0.004", "  glacier: 0.004", "storage.glacier", "glacier", "unknown storage class"),
        (
            "  vcpu_hour_usd: 0.045",
            "  vcpu_hour_usd: -0.045",
            "compute.vcpu_hour_usd",
            "vcpu_hour_usd",
            "negative",
        ),
        ("  gpu_hour_spot_usd: 0.40\n", "", "compute.gpu_hour_spot_usd", "compute:", "Field required"),
    ],
)
def test_bad_catalog_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, needle: str, words: str
) -> None:
    text = _default_text()
    assert old in text
    bad = text.replace(old, new, 1)
    path = tmp_path / "prices.yaml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as err:
        load_prices(path, regions=REGIONS)
    e = err.value
    assert e.file == str(path)
    assert e.field == field
    assert e.line == _line(bad, needle)
    assert words.lower() in str(e).lower()
    assert f"{path}:{e.line}" in str(e)


def test_missing_region_price_is_an_error(tmp_path: Path) -> None:
    text = _default_text()
    start = text.index("  me-central:  # Middle East")
    end = text.index("\ntransfer:")
    path = tmp_path / "p.yaml"
    path.write_text(text[:start] + text[end + 1 :])
    with pytest.raises(ConfigError, match="missing price for region 'me-central'") as err:
        load_prices(path, regions=REGIONS)
    assert err.value.field == "cdn_egress.me-central"


def test_unknown_budget_category(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("budgets:\n  cdn_egress: 10\n  snacks: 5\n")
    with pytest.raises(ConfigError, match="unknown category 'snacks'") as err:
        load_budgets(path)
    assert err.value.line is not None
