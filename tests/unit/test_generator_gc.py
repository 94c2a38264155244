"""The generator runs without the cyclic garbage collector and gives it back as it was."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from layout_trees.shell import generator


@pytest.mark.parametrize("enabled", [True, False])
def test_main_runs_without_gc_and_restores_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              enabled: bool) -> None:
    """During the run the collector is off; afterwards it is on exactly when it was before."""
    seen: list[bool] = []

    def fake_generate(out_dir: str, log: object) -> int:
        seen.append(gc.isenabled())
        return 0

    monkeypatch.setattr(generator, "generate", fake_generate)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        assert generator.main([str(tmp_path)] * 3) == 0
        assert seen == [False]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
