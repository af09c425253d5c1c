"""Write-to-temporary-then-rename helpers, so no reader ever sees half a file."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from jetae.errors import JetaeError


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it onto ``final`` on success.

    On any exception the temporary file is removed and ``final`` is left untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=suffix if suffix is not None else ".tmp", dir=final.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``final`` only when the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            if not overwrite:
                raise FileExistsError(final)
            backup = final.with_name(f".{final.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(final, backup)
            os.replace(tmp, final)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def check_writable(final: str | os.PathLike, kind: str = "file") -> Path:
    """Fail now, before any work, if ``final`` could not be written later.

    ``final`` is the output file (``kind="file"``) or directory (``kind="dir"``) a command
    will create atomically next to itself. Checks that ``final`` is not the wrong kind of
    thing and that its nearest existing parent is a writable directory (a missing parent is
    created later by :func:`atomic_path` / :func:`atomic_dir`). Nothing is created here.

    Raises
    ------
    JetaeError
        ``final`` is a directory where a file is expected (or the reverse), or its folder
        cannot be written.
    """
    final = Path(final)
    if kind == "file" and final.is_dir():
        raise JetaeError("is a directory; give a file name for the output", final)
    if kind == "dir" and final.exists() and not final.is_dir():
        raise JetaeError("exists and is not a directory", final)
    parent = final.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise JetaeError(f"cannot create the output: {parent} is not a directory", final)
    try:  # a real probe: permission bits say nothing for root, read-only mounts or ACLs
        with tempfile.TemporaryFile(dir=parent, prefix=".jetae-write-check."):
            pass
    except OSError as exc:
        raise JetaeError(f"cannot write the output in {parent}: {exc.strerror or exc}", final) from None
    return final


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _input_files(inputs: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Every input path, and for a directory the directory and everything below it."""
    for item in inputs:
        path = Path(item)
        yield path
        if path.is_dir():
            yield from path.rglob("*")


def check_not_input(final: str | os.PathLike, inputs: Iterable[str | os.PathLike], kind: str = "file") -> Path:
    """Refuse an output that would replace one of the command's own inputs (``--overwrite`` or not).

    ``inputs`` are the files and directories the command reads (a directory stands for
    everything in it, e.g. a model's run directory). An output file (``kind="file"``) may
    not be an input or any file in an input directory; an output directory (``kind="dir"``),
    which is replaced as a whole, may not be or contain an input. Paths are compared after
    resolving symbolic links, and existing files also by device and inode, so a symlink or
    a hard link to an input is caught too.

    Raises
    ------
    JetaeError
        Naming the output and the input it would replace.
    """
    final = Path(final)
    target = final.resolve()
    exists = final.exists()
    for path in _input_files(inputs):
        resolved = path.resolve()
        if kind == "dir":
            clash = resolved == target or target in resolved.parents or (exists and _same_file(final, path))
        else:
            clash = resolved == target or (exists and _same_file(final, path))
        if clash:
            what = "holds" if kind == "dir" and resolved != target else "is"
            raise JetaeError(f"the output {what} an input of this command ({path}); choose another output path", final)
    return final
