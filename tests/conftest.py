"""Test-wide settings: hypothesis profiles.

``HYPOTHESIS_PROFILE`` selects the profile: ``dev`` (the default outside CI:
few examples, fast feedback), ``ci`` (the default when ``CI`` is set: more
examples, no deadline, so a slow CI machine never fails a test by timing) or
``mutation`` (scripts/mutate: a fixed seed and no example database, so that a
mutant is killed or survives the same way on every run, and no shrinking: a
failing example kills the mutant at once, instead of running into the timeout);
``mutation-quick`` is ``mutation`` with 10 examples instead of 40, for long runs on
a small machine (a surviving mutant runs every test that reaches it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The loopback btrfs fixtures live at the top of the repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loopdev-fixtures"))

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "mutation",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("mutation-quick", settings.get_profile("mutation"), max_examples=10)
_DEFAULT = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or _DEFAULT)
