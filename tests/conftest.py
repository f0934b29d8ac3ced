"""Pytest set-up shared by every test directory: the repository root on sys.path, the
property-test profiles, and no skips in CI."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# Property tests: random examples on a developer's machine (to keep finding new cases),
# a fixed derandomised sequence in CI (HYPOTHESIS_PROFILE=ci, set by .ci/run) so that a
# green build stays green. A case either run finds is added as an explicit example.
try:
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    settings.register_profile("dev", print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
except ImportError:  # hypothesis is a test extra; the tests that need it import it
    pass


# In CI (PROMFLEET_TEST_NO_SKIPS=1, set by .ci/run) .ci/setup has installed everything a
# test may need (promtool, amtool, Prometheus, Alertmanager, every exporter), so a skip
# can only hide a broken set-up: it fails instead, with the skip's own reason.
_NO_SKIPS = os.environ.get("PROMFLEET_TEST_NO_SKIPS") == "1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if _NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped where nothing may be skipped (CI): {reason}"
    return report
