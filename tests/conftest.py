"""Pytest set-up shared by every test directory: the repository root on sys.path, and the
property-test profiles."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
