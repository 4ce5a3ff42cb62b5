"""Files written whole or not at all: checks that an output can be written, and atomic writes.

:class:`atomic_write_path` hands out a temporary file beside the target and renames it onto the
target only when the block succeeds, so no output file is ever half-written or silently overwritten.
Used for images (:func:`photostyle.image.save_image`) and every other file the library writes.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["atomic_write_path", "check_writable", "remove_stale_temporaries"]

# The random part of tempfile.mkstemp's names (tempfile._RandomNameSequence: 8 of these characters).
_RANDOM_PART = re.compile(r"[a-z0-9_]{8}")


def check_writable(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Raise if ``path`` cannot be written: it exists (and not ``overwrite``), or its directory is
    missing or read-only. Returns the directory. Nothing is created."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"output '{path}' is a directory; give a file name such as '{path / 'out.png'}'.")
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"output '{path}' already exists; pass overwrite=True (CLI: --overwrite) or choose another path."
        )
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"output directory '{parent}' does not exist; create it first.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"output directory '{parent}' is not writable; choose another output path.")
    return parent


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it straight back
    os.umask(mask)
    return mask


class atomic_write_path:
    """Context manager giving a temporary path beside ``path``, renamed onto it on success.

    Nothing is left behind on failure, and an existing file is refused unless ``overwrite``. The
    file gets the permissions any new file would (``0o666 & ~umask``), or those of the file it replaces.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False):
        self.path = Path(path)
        self.overwrite = overwrite
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        path = self.path
        parent = check_writable(path, overwrite=self.overwrite)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=parent)
        try:
            # mkstemp creates the file with mode 0600; give it the mode open() would have.
            try:
                mode = path.stat().st_mode & 0o7777
            except OSError:
                mode = 0o666 & ~_umask()
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:  # Windows
                os.chmod(tmp, mode)
        finally:
            os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.tmp is None:
            return
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return
        try:
            if not self.overwrite and self.path.exists():
                raise FileExistsError(f"output '{self.path}' appeared while writing; nothing was overwritten.")
            os.replace(self.tmp, self.path)
        finally:
            self.tmp.unlink(missing_ok=True)


def remove_stale_temporaries(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Delete the temporary files that :class:`atomic_write_path` made for ``paths`` and that a killed
    process left behind (``.<stem>.<8 random characters><suffix>`` beside each path); return them.

    A process killed with SIGKILL while writing cannot remove its temporary file. Call this only where
    nothing else writes those outputs at the same time (a batch holds its folder's lock). Each folder is
    listed once, whatever the number of paths in it.
    """
    wanted: dict[Path, set[tuple[str, str]]] = {}
    for path in map(Path, paths):
        wanted.setdefault(path.parent, set()).add((path.stem, path.suffix))
    removed = []
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            name = entry.name
            suffix = Path(name).suffix
            rest = name[1:len(name) - len(suffix)]  # "<stem>.<random>"
            if (name.startswith(".") and len(rest) > 9 and rest[-9] == "." and _RANDOM_PART.fullmatch(rest[-8:])
                    and (rest[:-9], suffix) in names and entry.is_file(follow_symlinks=False)):
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    return removed
