"""init_testnet refuses what no genesis could hold, before writing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cluster.testnet import MANIFEST, TestnetError, init_testnet


@pytest.mark.parametrize("stakes", [[100, 0, 100], [100, -5, 100]])
def test_non_positive_stakes_are_refused(tmp_path: Path, stakes: list[int]) -> None:
    with pytest.raises(TestnetError, match="stakes must be positive"):
        init_testnet(tmp_path / "net", validators=3, stakes=stakes)
    assert not (tmp_path / "net" / MANIFEST).exists()


def test_positive_stakes_land_in_the_manifest(tmp_path: Path) -> None:
    manifest = init_testnet(tmp_path / "net", validators=3, stakes=[1, 2, 3], seed="s")
    assert [n.stake for n in manifest.nodes] == [1, 2, 3]
