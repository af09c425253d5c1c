"""The resume directory of ``generate_to_file``: a manifest and one ``.npz`` file per finished shard.

``generate_to_file`` keeps finished shards in ``.OUT.parts/`` next to the output, with a
manifest of the arguments. Running the same command again after an interruption reuses
them; a shard file that is not exactly what :func:`save_shard` wrote is made again. The
output appears (atomically) only when every shard is done, and the directory is then
removed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np

from jetae.errors import JetaeError
from jetae.generation.shards import ShardResult, ShardTask, assemble
from jetae.io.atomic import atomic_path, write_text_atomic
from jetae.jets import Jets

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def work_dir_for(out: str | os.PathLike) -> Path:
    """The resume directory of output ``out``: ``.OUT.parts`` in the same folder."""
    out = Path(out)
    return out.with_name(f".{out.name}.parts")


def shard_path(work_dir: Path, index: int) -> Path:
    """The file of shard ``index`` in ``work_dir``: ``shard-00042.npz``."""
    return work_dir / f"shard-{index:05d}.npz"


def save_shard(path: Path, result: ShardResult) -> None:
    """Write a finished shard to ``path`` (``.npz``, atomically): its jets, truth and bookkeeping."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                constituents=result.constituents,
                truth=result.truth,
                meta=np.array([result.index, result.n_events, result.n_in_window], dtype=np.int64),
                seconds=np.array(result.seconds),
            )


def load_shard(path: Path, task: ShardTask, max_constituents: int) -> ShardResult | None:
    """A finished shard from the work directory, or None if missing or not usable.

    A shard file is only a cache of :func:`~jetae.generation.shards.run_shard` (same task, same jets): anything that is
    not exactly what :func:`save_shard` wrote is made again, with a warning naming the file.
    """
    if not path.exists():
        return None
    expected = {
        "constituents": ((task.n_jets, max_constituents, 4), np.float32),
        "truth": ((task.n_jets, 4), np.float32),
        "meta": ((3,), np.int64),
        "seconds": ((), np.float64),
    }
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile) or sorted(data.files) != sorted(expected):
                raise ValueError("not a shard file")
            arrays = {name: data[name] for name in expected}
    # A damaged file raises whatever zipfile, zlib or numpy's format reader meet first (BadZipFile,
    # EOFError, OSError, ValueError, ...): every one of them means "make this shard again".
    except Exception as exc:  # noqa: BLE001
        log.warning("%s: unreadable shard file (%s: %s); making it again", path, type(exc).__name__, exc)
        return None
    for name, (shape, dtype) in expected.items():
        if arrays[name].shape != shape or arrays[name].dtype != dtype:
            log.warning("%s: shard file does not match the plan (%s); making it again", path, name)
            return None
    index, n_events, n_in_window = (int(v) for v in arrays["meta"])
    if index != task.index:
        log.warning("%s: holds shard %d, not shard %d; making it again", path, index, task.index)
        return None
    constituents, truth, seconds = arrays["constituents"], arrays["truth"], float(arrays["seconds"])
    return ShardResult(
        index=index, constituents=constituents, truth=truth, n_events=n_events, n_in_window=n_in_window, seconds=seconds
    )


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``key: old then, new now`` for every differing (nested) key, values cut to 40 characters."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            shown_a = json.dumps(a)[:40]
            shown_b = json.dumps(b)[:40]
            out.append(f"{prefix}{key}: {shown_a} then, {shown_b} now")
    return out


def prepare_work_dir(work_dir: Path, arguments: dict, restart: bool) -> None:
    """Make ``work_dir`` with a manifest of ``arguments``, or check that an existing one is resumable.

    With ``restart`` an existing work directory is removed first.

    Raises
    ------
    JetaeError
        An existing work directory without a readable manifest, or from other arguments
        (the message names up to four differences), or one that cannot be created.
    """
    manifest = work_dir / MANIFEST
    if restart and work_dir.exists():
        log.info("--restart: removing %s", work_dir)
        shutil.rmtree(work_dir)
    if work_dir.exists():
        try:
            previous = json.loads(manifest.read_text())["arguments"]
        except (OSError, ValueError, KeyError, TypeError):
            raise JetaeError(
                "work directory without a readable manifest; remove it or add --restart", work_dir
            ) from None
        if previous != arguments:
            changes = "; ".join(_differences(previous, arguments)[:4])
            raise JetaeError(
                f"holds shards of a run with different arguments ({changes}); "
                "run the same command to resume it, or add --restart to discard it",
                work_dir,
            )
        return
    try:
        work_dir.mkdir(parents=False)
    except OSError as exc:
        raise JetaeError(
            f"cannot create the work directory next to the output: {exc.strerror or exc}", work_dir
        ) from exc
    write_text_atomic(manifest, json.dumps({"arguments": arguments}, indent=1))


def iter_shard_jets(work_dir: Path, tasks: list[ShardTask], max_constituents: int, is_signal: bool) -> Iterator[Jets]:
    """The jets of every task's shard file, in task order, one shard in memory at a time.

    Raises
    ------
    JetaeError
        A shard file vanished or was damaged since it was written.
    """
    for task in tasks:
        path = shard_path(work_dir, task.index)
        result = load_shard(path, task, max_constituents)
        if result is None:
            raise JetaeError(
                "a finished shard vanished or was damaged while writing the output; run the same command again", path
            )
        yield assemble([result], is_signal)
