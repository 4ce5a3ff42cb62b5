"""Location of ../shared (read-only data beside the project) for the segmentation tests."""

import pytest

from tests._shared import DPST, SHARED  # noqa: F401  (one definition of ../shared for all tests)

PAIRS = (2, 4, 9, 13, 15, 20, 29, 30, 31, 44, 45, 58)

needs_dpst = pytest.mark.skipif(not DPST.is_dir(), reason=f"DPST pairs not found at {DPST} (../shared is absent)")
