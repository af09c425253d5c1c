"""A fast read cache for reference-layout files, for repeated training reads.

Reading the pandas/PyTables reference layout runs at roughly 20-25k jets/s (the
806-column table is decoded row by row); training reads the same file again and
again. The first :func:`read_cached` of a file converts it once into an h5py file with
plain arrays, later calls read that instead (several hundred thousand jets/s,
see docs/representations.md for measured figures).

Cache file layout (``jetae-cache/2``), ragged so it stores no padding::

    values        (n_values, 4) float32  (E, px, py, pz) in GeV of every jet's slots
                                         0 .. length-1, jet after jet
    offsets       (n_jets + 1,) int64    jet i owns values[offsets[i]:offsets[i + 1]]
    truth         (n_jets, 4) float32
    ttv           (n_jets,) int8
    is_signal     (n_jets,) int8
    attrs: format, source, source_size, source_mtime_ns, n_jets, width

``length`` is the index of a jet's last non-padding slot plus one, so interior zero
rows survive exactly; reads zero-pad every jet to ``width``, the largest length in
the file (at most the 200 slots of the source).

Cache files live in ``$JETAE_CACHE_DIR`` or ``~/.cache/jetae``, are named after the
source file plus a hash of its absolute path, size and modification time (so an edited
or replaced source is never served stale), and are written atomically. Older entries
for the same source path are removed when a new one is written. Deleting the cache
directory is always safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from jetae.errors import JetaeError
from jetae.features.kinematics import padding_mask
from jetae.io.atomic import atomic_path
from jetae.io.toptag import count_jets, iter_jets, read_jets
from jetae.jets import Jets

log = logging.getLogger(__name__)

CACHE_FORMAT = "jetae-cache/2"
#: Constituents per HDF5 chunk of ``values`` (1 MB); uncompressed, since reading
#: compressed chunks (lzf, gzip) was ten times slower than reading plain ones.
_CHUNK_VALUES = 65536


def cache_dir() -> Path:
    """Where cache files go: ``$JETAE_CACHE_DIR``, else ``~/.cache/jetae``."""
    configured = os.environ.get("JETAE_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "jetae"


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def cache_path(source: str | os.PathLike) -> Path:
    """The cache file for ``source`` in its current state (size and mtime)."""
    source = Path(source).resolve()
    stat = source.stat()
    state = _digest(f"{stat.st_size}:{stat.st_mtime_ns}", 8)
    return cache_dir() / f"{source.stem}-{_digest(str(source), 12)}-{state}.h5"


def _lengths(constituents: np.ndarray) -> np.ndarray:
    """``(n_jets,)`` index of each jet's last non-padding slot plus one (0 if none)."""
    real = padding_mask(constituents)
    last_from_end = np.argmax(real[:, ::-1], axis=1)
    return np.where(real.any(axis=1), real.shape[1] - last_from_end, 0)


def build_cache(source: str | os.PathLike, chunk_size: int = 100_000) -> Path:
    """Convert a reference-layout file into its cache file (one streaming pass).

    Every chunk is validated by the reader, so a damaged source raises JetaeError and
    leaves no cache file behind. Returns the cache path.
    """
    source = Path(source).resolve()
    target = cache_path(source)
    stat = source.stat()
    n_jets = count_jets(source)
    if n_jets == 0:
        raise JetaeError("contains no jets", source)
    log.info("caching %s (%d jets) as %s", source, n_jets, target)
    with atomic_path(target, suffix=".h5") as tmp, h5py.File(tmp, "w") as out:
        out.attrs.update(
            format=CACHE_FORMAT,
            source=str(source),
            source_size=stat.st_size,
            source_mtime_ns=stat.st_mtime_ns,
            n_jets=n_jets,
        )
        values = out.create_dataset(
            "values", shape=(0, 4), maxshape=(None, 4), dtype=np.float32, chunks=(_CHUNK_VALUES, 4)
        )
        offsets = out.create_dataset("offsets", shape=(n_jets + 1,), dtype=np.int64)
        truth = out.create_dataset("truth", shape=(n_jets, 4), dtype=np.float32)
        ttv = out.create_dataset("ttv", shape=(n_jets,), dtype=np.int8)
        is_signal = out.create_dataset("is_signal", shape=(n_jets,), dtype=np.int8)
        done, n_values, width = 0, 0, 0
        offsets[0] = 0
        with tqdm(total=n_jets, unit="jet", desc="caching", disable=None, leave=False) as progress:
            for chunk in iter_jets(source, chunk_size=chunk_size):
                lengths = _lengths(chunk.constituents)
                width = max(width, int(lengths.max()))
                kept = chunk.constituents[np.arange(chunk.n_constituents_max) < lengths[:, None]]
                values.resize(n_values + len(kept), axis=0)
                values[n_values:] = kept
                stop = done + len(chunk)
                offsets[done + 1 : stop + 1] = n_values + np.cumsum(lengths)
                truth[done:stop] = chunk.truth
                ttv[done:stop] = chunk.ttv
                is_signal[done:stop] = chunk.is_signal
                n_values += len(kept)
                done = stop
                progress.update(len(chunk))
        out.attrs["width"] = width
        if done != n_jets:
            raise JetaeError(f"read {done} jets but the file says it has {n_jets}", source)
    _remove_older_entries(target)
    return target


def _remove_older_entries(current: Path) -> None:
    """Delete cache files of earlier states of the same source path."""
    prefix = current.name.rsplit("-", 1)[0] + "-"
    for stale in current.parent.glob(f"{prefix}*.h5"):
        if stale != current:
            with contextlib.suppress(OSError):
                stale.unlink()
                log.debug("removed stale cache %s", stale)


def _read_cache_file(target: Path, source: Path, start: int, stop: int | None) -> Jets:
    with h5py.File(target, "r") as cached:
        if cached.attrs.get("format") != CACHE_FORMAT:
            raise OSError(f"unexpected cache format {cached.attrs.get('format')!r}")
        n_jets, width = int(cached.attrs["n_jets"]), int(cached.attrs["width"])
        stop = n_jets if stop is None else min(stop, n_jets)
        if start >= stop:
            raise JetaeError("contains no jets" if n_jets == 0 else f"has {n_jets} jets, none from row {start}", source)
        offsets = cached["offsets"][start : stop + 1]
        values = cached["values"][offsets[0] : offsets[-1]]
        n = stop - start
        lengths = np.diff(offsets)
        # Flat destination slot of every value: row * width + position within its jet
        # (a flat fancy assignment is ~2x faster than a boolean (n, width) mask).
        destination = np.arange(len(values)) + np.repeat(np.arange(n) * width - (offsets[:-1] - offsets[0]), lengths)
        constituents = np.zeros((n, width, 4), dtype=np.float32)
        constituents.reshape(-1, 4)[destination] = values
        return Jets(
            constituents=constituents,
            truth=cached["truth"][start:stop],
            ttv=cached["ttv"][start:stop],
            is_signal=cached["is_signal"][start:stop],
            source=str(source),
        )


def read_cached(source: str | os.PathLike, n_max: int | None = None, start: int = 0) -> Jets:
    """Read jets from ``source`` through the cache, building the cache on first use.

    Same jets as :func:`jetae.io.toptag.read_jets`, except that the constituent axis
    is trimmed to the longest jet in the file. If the cache directory cannot
    be written, falls back to reading ``source`` directly (with a warning).
    """
    source = Path(source)
    if not source.is_file():  # let the reader produce its usual error
        return read_jets(source, n_max=n_max, start=start)
    stop = None if n_max is None else start + n_max
    target = cache_path(source)
    if target.exists():
        try:
            jets = _read_cache_file(target, source, start, stop)
            log.debug("read %d jets from cache %s", len(jets), target)
            return jets
        except (OSError, KeyError, ValueError) as exc:
            log.warning("ignoring damaged cache file %s (%s); rebuilding it", target, exc)
            with contextlib.suppress(OSError):
                target.unlink()
    try:
        target = build_cache(source)
    except OSError as exc:
        log.warning("cannot write the jet cache in %s (%s); reading %s directly", cache_dir(), exc, source)
        return read_jets(source, n_max=n_max, start=start)
    return _read_cache_file(target, source, start, stop)
