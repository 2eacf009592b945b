from pathlib import Path

import pytest

from streamverse.errors import ConfigError
from streamverse.platform.topology import load_topology, parse_topology

DEFAULT = Path(__file__).parents[2] / "streamverse/platform/data/topology.yaml"


def test_default_topology_has_six_regions_and_thirty_pops():
    topo = load_topology()
    assert [r.name for r in topo.regions] == [
        "us-east", "us-west", "eu-west", "ap-northeast", "sa-east", "me-central"]
    assert len(topo.pops) >= 30
    assert topo.primary_origin.label == "California HQ"
    assert topo.backup_origin is not None and topo.backup_origin.label == "Texas"
    assert all(p.cache_size > 0 and p.capacity_gbps > 0 for p in topo.pops.values())


def test_rtt_grows_with_distance():
    topo = load_topology()
    assert topo.rtt_ms("ap-northeast", "tokyo-1") < topo.rtt_ms("ap-northeast", "osaka-1")
    assert topo.rtt_ms("ap-northeast", "osaka-1") < topo.rtt_ms("ap-northeast", "london-1")


def test_bad_field_names_file_line_and_field(tmp_path):
    text = DEFAULT.read_text().replace("capacity_gbps: 1600, cache_size: 400TB",
                                       "capacity_gbps: -1, cache_size: 400TB", 1)
    bad = tmp_path / "topo.yaml"
    bad.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "capacity_gbps: -1" in row)
    with pytest.raises(ConfigError) as err:
        load_topology(bad)
    assert err.value.file == str(bad)
    assert err.value.line == line
    assert err.value.field == "regions.0.pops.0.capacity_gbps"


def test_bad_size_and_broken_yaml_and_duplicates():
    with pytest.raises(ConfigError, match="cache_size"):
        parse_topology(DEFAULT.read_text().replace("cache_size: 150TB", "cache_size: lots", 1))
    with pytest.raises(ConfigError) as err:
        parse_topology("regions: [\n  {name: x", source="t.yaml")
    assert err.value.line is not None
    with pytest.raises(ConfigError, match="unique"):
        parse_topology(DEFAULT.read_text().replace("name: new-york-1", "name: ashburn-1"))
