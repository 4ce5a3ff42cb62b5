"""photostyle.reuse_freed_memory: freed large tensors are reused instead of page-faulted again."""

from __future__ import annotations

import subprocess
import sys

import pytest

from photostyle import _memory

_FAULTS = """
import resource, sys, torch
if sys.argv[1] == "reuse":
    import photostyle
    assert photostyle.reuse_freed_memory()
def faults_of_one_round():  # as an iteration does: large buffers made, written, freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    held = [torch.empty(n).fill_(1.0) for n in (25_000_000, 12_500_000, 6_250_000)]
    del held
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
rounds = [faults_of_one_round() for _ in range(6)]
print(rounds[-1])  # after warming up: reused, or faulted in again
"""


def _glibc() -> bool:
    import platform

    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _huge_pages_always() -> bool:
    try:
        return "[always]" in open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return False


@pytest.mark.skipif(not _glibc(), reason="the setting is glibc's (Linux); elsewhere it is a no-op returning False")
@pytest.mark.skipif(_huge_pages_always(), reason="transparent huge pages are always on: faults are counted per "
                                                 "2 MB page, so 4 KB page counts do not apply")
def test_a_freed_large_tensor_is_reused_instead_of_faulted_in_again():
    pages = 175e6 / 4096
    runs = {mode: int(subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True,
                                     check=True).stdout.strip()) for mode in ("system", "reuse")}
    assert runs["system"] > 0.9 * pages  # glibc mmaps them afresh: every page faulted in and zeroed again
    assert runs["reuse"] < 0.05 * pages  # kept in the heap: the same pages again


def test_reuse_freed_memory_is_refused_where_it_cannot_apply(monkeypatch):
    monkeypatch.setattr(_memory, "_applied", False)
    monkeypatch.setenv(_memory.MALLOC_ENV_VAR, "system")
    assert _memory.reuse_freed_memory() is False
    monkeypatch.delenv(_memory.MALLOC_ENV_VAR)
    monkeypatch.setattr(_memory.platform, "libc_ver", lambda: ("", ""))  # musl, macOS, Windows
    assert _memory.reuse_freed_memory() is False
    assert _memory._applied is False
