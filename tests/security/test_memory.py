"""The allocator setting that keeps the tailer's RSS flat under churn."""

from __future__ import annotations

import ctypes
import ctypes.util

from exporters.security import EXPORTER
from exporters.security.memory import pin_mmap_threshold
from tests.helpers import run_exporter


def test_the_mmap_threshold_is_pinned_on_glibc_and_zero_leaves_it_alone() -> None:
    has_mallopt = bool(ctypes.util.find_library("c")) and hasattr(
        ctypes.CDLL(ctypes.util.find_library("c")), "mallopt"
    )
    assert pin_mmap_threshold(262_144) is has_mallopt
    assert pin_mmap_threshold(0) is False


def test_the_option_defaults_to_256_kib_and_refuses_a_negative_value() -> None:
    option = next(o for o in EXPORTER.options if o.name == "memory.mmap-threshold")
    assert option.parse(option.default) == 262_144
    result = run_exporter(
        "security", "--web.listen-address=127.0.0.1:0", "--memory.mmap-threshold=-1"
    )
    assert result.returncode == 2
    assert "memory.mmap-threshold" in result.stderr
