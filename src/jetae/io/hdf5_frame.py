# Over 500 lines: one reader class for pandas' two HDF5 formats and the checks it applies to every node.
"""Read pandas' HDF5 DataFrames with h5py alone: no pickle, no PyTables, no code from the file.

``pandas.HDFStore`` (and PyTables under it) unpickles: object columns are stored as
pickles, and node attributes holding Python lists (column names) are protocol-0
pickles that PyTables unpickles when it opens the node. A crafted jet file could run
code the moment it is opened. This module reads the same files through h5py and

* decodes the few pickled attributes it needs (column names, empty-array shapes) with
  :func:`jetae.io.safe_pickle.decode_pickle`, which evaluates a whitelist of data-only
  opcodes and refuses every opcode that imports, calls or builds objects;
* inspects the dtype of every node under the DataFrame's group before any row is read,
  refusing Python objects, variable-length data, opaque data, references and strings
  outside the places where pandas stores names.

Both pandas storage formats are understood (as written by pandas 1.x-3.x):

``fixed`` (``df.to_hdf(path, key=key)``)
    group ``/key`` with ``axis0`` (column names, ``S`` strings), ``axis1`` (the index),
    and for ``N < nblocks``: ``blockN_items`` (names of block N's columns) and
    ``blockN_values``, a 2-d array ``(n_rows, n_items)`` (attribute ``transposed=1``;
    ``(n_items, n_rows)`` without it). Empty arrays are a ``(1, ...)`` placeholder with
    the real shape in a pickled ``shape`` attribute.
``table`` (``df.to_hdf(path, key=key, format="table")``)
    compound dataset ``/key/table`` with fields ``index``, ``values_block_0``, ... (each
    an ``(n_rows, k)`` sub-array, or a scalar field for a ``data_columns`` column named
    after it); field F's column names are the pickled list in its attribute ``F_kind``,
    and the group attribute ``non_index_axes`` (pickled ``[(1, [names])]``) lists all
    columns in order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from jetae.errors import JetaeError
from jetae.io.safe_pickle import decode_pickle

log = logging.getLogger(__name__)

#: HDF5 filters h5py may lack, with how to get them; reported before any row is read.
_FILTER_HINT = (
    "`pip install hdf5plugin` adds it, or rewrite the file with a standard filter: "
    "ptrepack --complib=zlib --complevel=1 IN.h5 OUT.h5"
)
#: Rows per h5py read; bounds the temporary buffers to a few tens of MB.
BATCH_ROWS = 8192
#: Nodes under the DataFrame group that may hold fixed-length strings (names, index labels).
_NAME_NODES = re.compile(r"axis\d+|block\d+_items|axis\d+_(level|label)\d+")
_MAX_DEPTH = 16
_MAX_NODES = 100_000


@dataclass(frozen=True)
class Block:
    """Where some columns of the DataFrame are stored.

    Attributes
    ----------
    node:
        The dataset, e.g. ``/table/table`` or ``/table/block0_values``.
    field:
        The compound field (``table`` format), or None (``fixed`` format).
    columns:
        Column names in stored order (position ``i`` is column ``i`` of the block).
    dtype:
        Stored element dtype (plain numeric or bool).
    rows_first:
        True when the rows are the first axis (``(n_rows, n_items)``).
    """

    node: str
    field: str | None
    columns: tuple
    dtype: np.dtype
    rows_first: bool = True


@dataclass(frozen=True)
class NodeInfo:
    """One node under the DataFrame group, as seen by :class:`FrameReader` (for reports)."""

    name: str
    kind: str  # "group" or "dataset"
    dtype: str = ""
    shape: tuple = ()
    filters: tuple = ()


@dataclass
class FrameLayout:
    """The structure of one stored DataFrame.

    Attributes
    ----------
    storage:
        ``"table"`` or ``"fixed"`` (pandas' two HDF5 formats).
    n_rows:
        Number of rows (jets).
    columns:
        All column names, in DataFrame order.
    blocks:
        Where the columns are stored.
    nodes:
        Every node under the group with its dtype and filters (all checked).
    """

    storage: str
    n_rows: int
    columns: list
    blocks: list[Block]
    nodes: list[NodeInfo] = field(default_factory=list)

    def locations(self) -> dict[Any, list[tuple[int, int]]]:
        """``{column: [(block index, position), ...]}`` (a duplicated name has several)."""
        where: dict[Any, list[tuple[int, int]]] = {}
        for b, block in enumerate(self.blocks):
            for position, name in enumerate(block.columns):
                where.setdefault(name, []).append((b, position))
        return where


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "SO":
        return _text(value[()])
    return None


def _first_line(exc: BaseException) -> str:
    """One-line reason: exception class and first message line, or for HDF5 errors
    (which carry a long back trace) the summary plus the innermost cause."""
    text = str(exc).strip()
    name = exc.__class__.__name__
    if "End of HDF5 error back trace" in text:
        trace, summary = text.rsplit("End of HDF5 error back trace", 1)
        causes = [line.strip() for line in trace.splitlines() if line.startswith("    ") and line.strip()]
        summary = summary.strip() or "HDF5 error"
        return f"{name}: {summary}" + (f" ({causes[-1]})" if causes else "")
    lines = text.splitlines()
    return f"{name}: {lines[0]}" if lines else name


def _dtype_problem(dtype: np.dtype, names_allowed: bool) -> str | None:
    """Why a stored dtype is refused (None if it is plain numbers / bools / allowed names)."""
    if h5py.check_ref_dtype(dtype) is not None:
        return "HDF5 object references"
    string = h5py.check_string_dtype(dtype)
    if string is not None:
        if string.length is None:
            return "variable-length strings"
        return None if names_allowed else "strings (only numeric columns can be read)"
    if h5py.check_vlen_dtype(dtype) is not None:
        return "variable-length data"
    if dtype.subdtype is not None:
        return _dtype_problem(dtype.subdtype[0], names_allowed)
    if dtype.fields:
        for name in dtype.names:
            problem = _dtype_problem(dtype.fields[name][0], names_allowed and name == "index")
            if problem:
                return f"{problem} in field '{name}'"
        return None
    if dtype.kind in "biuf":
        return None
    if dtype.kind == "S":
        return None if names_allowed else "strings (only numeric columns can be read)"
    if dtype.kind == "O":
        return "Python objects"
    if dtype.kind == "V":
        return "opaque binary data"
    return f"values of type {dtype} (only plain numbers can be read)"


def _filters(dataset: h5py.Dataset) -> tuple[tuple[int, str, bool], ...]:
    """``((filter id, name, available), ...)`` of a dataset's HDF5 filter pipeline."""
    try:
        plist = dataset.id.get_create_plist()
        found = []
        for i in range(plist.get_nfilters()):
            code, _flags, _values, name = plist.get_filter(i)
            found.append((int(code), _text(name) or str(code), bool(h5py.h5z.filter_avail(code))))
        return tuple(found)
    except Exception:  # noqa: BLE001 - an odd plist only loses the report, reading checks again
        return ()


_PLUGIN_TRIED = False


def _load_filter_plugins() -> None:
    """Register extra HDF5 filters (blosc, bzip2, lz4, ...) if ``hdf5plugin`` is installed."""
    global _PLUGIN_TRIED
    if not _PLUGIN_TRIED:
        _PLUGIN_TRIED = True
        with contextlib.suppress(ImportError):
            # optional package, and importing it registers filters process-wide: only when a file needs one
            import hdf5plugin  # noqa: F401

            log.debug("hdf5plugin filters registered")


class FrameReader:
    """Open a pandas DataFrame stored under ``key`` in an HDF5 file, safely.

    Opening checks the file, the storage format and every node's dtype (see the module
    docstring); nothing in the file is unpickled or executed. Use as a context manager::

        with FrameReader(path) as frame:
            frame.layout.n_rows
            values = frame.read(["E_0", "PX_0"], 0, 100, np.float32)   # (100, 2)

    Raises
    ------
    JetaeError
        Missing file, directory, not HDF5 (truncated / damaged), no DataFrame under
        ``key``, an unsupported or inconsistent layout, or a node that is not plain data.
    """

    def __init__(self, path: str | os.PathLike, key: str = "table"):
        self.path = Path(path)
        self.key = key
        if not self.path.exists():
            raise JetaeError("file not found", self.path)
        if self.path.is_dir():
            raise JetaeError("is a directory, expected an HDF5 file", self.path)
        try:
            self.file = h5py.File(self.path, "r")
        except Exception as exc:  # noqa: BLE001 - HDF5 raises OSError, but damaged files find others
            raise JetaeError(
                f"not a readable HDF5 file (truncated or damaged?): {_first_line(exc)}", self.path
            ) from None
        try:
            self.layout = self._inspect()
        except BaseException:
            self.file.close()
            raise
        self._plans: dict[tuple, list] = {}

    # -- context manager
    def __enter__(self) -> "FrameReader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HDF5 file (idempotent)."""
        with contextlib.suppress(Exception):
            self.file.close()

    def fail(self, message: str) -> JetaeError:
        """A JetaeError about this file."""
        return JetaeError(message, self.path)

    # -- inspection
    def _keys(self) -> list[str]:
        """pandas-style keys: groups carrying a ``pandas_type`` attribute (first 20)."""
        keys: list[str] = []

        def visit(group: h5py.Group, depth: int) -> None:
            for name in group:
                if len(keys) >= 20 or depth > 4:
                    return
                link = group.get(name, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    continue
                child = group.get(name)
                if isinstance(child, h5py.Group):
                    if "pandas_type" in child.attrs:
                        keys.append(child.name)
                    else:
                        visit(child, depth + 1)

        with contextlib.suppress(Exception):
            visit(self.file, 0)
        return keys

    def _inspect(self) -> FrameLayout:
        try:
            return self._inspect_unchecked()
        except JetaeError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise self.fail(f"the '{self.key}' node is not a readable pandas DataFrame ({_first_line(exc)})") from None

    def _inspect_unchecked(self) -> FrameLayout:
        key = self.key
        link = self.file.get(key, getlink=True)
        group = self.file.get(key) if isinstance(link, h5py.HardLink) else None
        if not isinstance(group, h5py.Group) or "pandas_type" not in group.attrs:
            keys = self._keys()
            listed = ", ".join(keys) or "none"
            if link is not None and not isinstance(group, h5py.Group):
                what = "a link" if not isinstance(link, h5py.HardLink) else "a plain HDF5 dataset"
                listed += f"; /{key} is {what}, not a pandas DataFrame"
            elif group is not None:
                listed += f"; /{key} is an HDF5 group without pandas metadata"
            raise self.fail(f"no '{key}' key in the file (keys: {listed}); expected the Top Tagging Reference layout")
        nodes = self._check_nodes(group)
        pandas_type = _text(group.attrs.get("pandas_type"))
        if pandas_type == "frame_table":
            layout = self._table_layout(group)
        elif pandas_type == "frame":
            layout = self._fixed_layout(group)
        elif pandas_type in ("series", "series_table"):
            raise self.fail(f"/{key} holds a pandas Series, expected a DataFrame (one row per jet)")
        else:
            raise self.fail(f"/{key} is a pandas object of unsupported type {pandas_type!r}; expected a DataFrame")
        layout.nodes = nodes
        self._check_filters(layout)
        return layout

    def _check_nodes(self, group: h5py.Group) -> list[NodeInfo]:
        """Refuse anything under ``group`` that is not plain data; list what is there."""
        found: list[NodeInfo] = []

        def visit(current: h5py.Group, depth: int) -> None:
            if depth > _MAX_DEPTH:
                raise self.fail(f"node {current.name} is nested more than {_MAX_DEPTH} groups deep")
            for name in current:
                full = f"{current.name.rstrip('/')}/{name}"
                link = current.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    raise self.fail(
                        f"node {full} is a link to another file ({link.filename}); "
                        "jetae reads only data stored in the file itself"
                    )
                if isinstance(link, h5py.SoftLink):
                    raise self.fail(f"node {full} is a soft link ({link.path}); pandas never writes links")
                obj = current.get(name)
                if len(found) >= _MAX_NODES:
                    raise self.fail(f"more than {_MAX_NODES} nodes under {group.name}")
                if isinstance(obj, h5py.Group):
                    found.append(NodeInfo(full, "group"))
                    visit(obj, depth + 1)
                elif isinstance(obj, h5py.Dataset):
                    basename = name
                    problem = _dtype_problem(obj.dtype, names_allowed=bool(_NAME_NODES.fullmatch(basename)))
                    if problem:
                        pseudo = _text(obj.attrs.get("PSEUDOATOM"))
                        if pseudo == "object" or (obj.dtype.kind == "O" and problem == "variable-length data"):
                            problem = "Python objects (pickled data); jetae never unpickles"
                        raise self.fail(f"node {full} holds {problem} — write the file with numeric columns only")
                    found.append(
                        NodeInfo(
                            full, "dataset", str(obj.dtype), tuple(obj.shape), tuple(n for _, n, _ in _filters(obj))
                        )
                    )

        visit(group, 0)
        return found

    def _pickled_attr(self, obj: h5py.HLObject, name: str, required: bool = True) -> Any:
        if name not in obj.attrs:
            if required:
                raise self.fail(f"node {obj.name} lacks the pandas attribute '{name}'")
            return None
        raw = obj.attrs.get(name)
        text = raw.tobytes() if isinstance(raw, np.ndarray) and raw.dtype.kind == "S" and raw.shape == () else raw
        if not isinstance(text, (bytes, np.bytes_, str)):
            raise self.fail(f"attribute '{name}' of node {obj.name} is not a pickled string ({type(raw).__name__})")
        return decode_pickle(
            bytes(text) if not isinstance(text, str) else text,
            path=self.path,
            where=f"attribute '{name}' of node {obj.name}",
        )

    def _names(self, dataset: h5py.Dataset) -> list:
        """Column names stored in a fixed-format ``axis0`` / ``blockN_items`` array."""
        shape = self._stored_shape(dataset)
        if shape != tuple(dataset.shape):  # pandas' placeholder for an empty array
            return []
        values = dataset[()]
        if values.ndim != 1:
            raise self.fail(f"node {dataset.name} has shape {values.shape}, expected a list of column names")
        if values.dtype.kind == "S":
            return [bytes(v).decode("utf-8", errors="replace") for v in values]
        return values.tolist()

    def _stored_shape(self, dataset: h5py.Dataset) -> tuple:
        """The array's real shape: pandas writes empty arrays as a placeholder plus a ``shape`` attribute."""
        if "shape" in dataset.attrs:
            shape = self._pickled_attr(dataset, "shape")
            if not isinstance(shape, (tuple, list)) or not all(isinstance(s, int) and s >= 0 for s in shape):
                raise self.fail(f"attribute 'shape' of node {dataset.name} is not a shape: {shape!r}")
            return tuple(shape)
        return tuple(dataset.shape)

    def _fixed_layout(self, group: h5py.Group) -> FrameLayout:
        for axis in (0, 1):
            variety = _text(group.attrs.get(f"axis{axis}_variety")) or "regular"
            if variety != "regular":
                what = "columns" if axis == 0 else "index"
                raise self.fail(f"/{self.key} has a MultiIndex as its {what} ({variety}); expected plain column names")
        if "axis0" not in group or "axis1" not in group:
            raise self.fail(f"/{self.key} lacks axis0/axis1: not a pandas DataFrame in fixed format")
        columns = self._names(group["axis0"])
        index_shape = self._stored_shape(group["axis1"])
        if len(index_shape) != 1:
            raise self.fail(f"node {group['axis1'].name} has shape {index_shape}, expected one value per row")
        n_rows = index_shape[0]
        n_blocks = int(np.asarray(group.attrs.get("nblocks", 0)).item())
        blocks = []
        for i in range(n_blocks):
            items_name, values_name = f"block{i}_items", f"block{i}_values"
            if items_name not in group or values_name not in group:
                raise self.fail(
                    f"/{self.key} says it has {n_blocks} blocks but {values_name} or {items_name} is missing"
                )
            items = self._names(group[items_name])
            values = group[values_name]
            shape = self._stored_shape(values)
            rows_first = bool(np.asarray(values.attrs.get("transposed", 0)).item())
            expected = (n_rows, len(items)) if rows_first else (len(items), n_rows)
            if shape != expected:
                raise self.fail(
                    f"node {values.name} has shape {shape}, expected {expected} ({n_rows} rows, {len(items)} columns)"
                )
            blocks.append(Block(values.name, None, tuple(items), values.dtype, rows_first))
        stored = sorted(map(repr, (c for b in blocks for c in b.columns)))
        if stored != sorted(map(repr, columns)):
            raise self.fail(f"/{self.key}: the columns of the blocks do not match axis0 (inconsistent file)")
        return FrameLayout("fixed", int(n_rows), columns, blocks)

    def _table_layout(self, group: h5py.Group) -> FrameLayout:
        table = group.get("table")
        if not isinstance(table, h5py.Dataset) or not table.dtype.fields:
            raise self.fail(f"/{self.key}/table is missing or not a table: not a pandas DataFrame in table format")
        if table.ndim != 1:
            raise self.fail(f"node {table.name} has shape {table.shape}, expected one record per row")
        axes = self._pickled_attr(group, "non_index_axes")
        if (
            not isinstance(axes, list)
            or len(axes) != 1
            or not isinstance(axes[0], tuple)
            or len(axes[0]) != 2
            or not isinstance(axes[0][1], list)
        ):
            raise self.fail(
                f"attribute 'non_index_axes' of node {group.name} is not [(1, [column names])]: "
                f"a pandas object this reader does not know"
            )
        columns = list(axes[0][1])
        blocks = []
        for name in table.dtype.names:
            if name == "index":
                continue
            names = self._pickled_attr(table, f"{name}_kind")
            if not isinstance(names, list):
                raise self.fail(f"attribute '{name}_kind' of node {table.name} is not a list of column names")
            meta_raw = table.attrs.get(f"{name}_meta")
            if meta_raw is not None and bytes(np.asarray(meta_raw).tobytes()) != b"N.":
                meta = self._pickled_attr(table, f"{name}_meta")
                if meta is not None:
                    raise self.fail(
                        f"columns {', '.join(map(str, names[:4]))} of node {table.name} are stored as "
                        f"{meta!r}; write them as plain numbers"
                    )
            base, shape = table.dtype.fields[name][0], ()
            if base.subdtype is not None:
                base, shape = base.subdtype
            width = int(np.prod(shape)) if shape else 1
            if len(shape) > 1 or width != len(names):
                raise self.fail(
                    f"field '{name}' of node {table.name} holds {width} values per row but names "
                    f"{len(names)} columns (inconsistent file)"
                )
            blocks.append(Block(table.name, name, tuple(names), base, True))
        stored = sorted(map(repr, (c for b in blocks for c in b.columns)))
        if stored != sorted(map(repr, columns)):
            raise self.fail(
                f"/{self.key}: the columns of the table fields do not match non_index_axes (inconsistent file)"
            )
        return FrameLayout("table", int(table.shape[0]), columns, blocks)

    def _check_filters(self, layout: FrameLayout) -> None:
        nodes = {b.node for b in layout.blocks}
        for node in sorted(nodes):
            for code, name, available in _filters(self.file[node]):
                if not available:
                    _load_filter_plugins()
                    if h5py.h5z.filter_avail(code):
                        continue
                    raise self.fail(
                        f"node {node} is compressed with the '{name}' filter (HDF5 filter {code}), "
                        f"which this h5py cannot decode; {_FILTER_HINT}"
                    )

    # -- reading
    def _plan(self, names: Sequence) -> list[tuple[int, Any, Any]]:
        """``[(block index, stored positions, output positions)]`` (slices where contiguous)."""
        key = tuple(names)
        if key in self._plans:
            return self._plans[key]
        where = self.layout.locations()
        per_block: dict[int, tuple[list[int], list[int]]] = {}
        for out, name in enumerate(names):
            found = where.get(name)
            if not found:
                raise self.fail(f"no column {name!r}")
            if len(found) > 1:
                raise self.fail(f"column {name!r} appears {len(found)} times; column names must be unique")
            b, position = found[0]
            per_block.setdefault(b, ([], []))
            per_block[b][0].append(position)
            per_block[b][1].append(out)
        plan = [(b, _as_slice(stored), _as_slice(outs)) for b, (stored, outs) in sorted(per_block.items())]
        self._plans[key] = plan
        return plan

    def read(self, names: Sequence, lo: int, hi: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Columns ``names`` of rows ``lo:hi`` as a ``(hi - lo, len(names))`` array of ``dtype``.

        Rows are read in batches of :data:`BATCH_ROWS`, so temporary memory stays small.

        Raises
        ------
        JetaeError
            A named column does not exist or is duplicated, or HDF5 cannot read the rows
            (``could not read rows lo-hi (truncated or damaged file?) ...``).
        """
        plan = self._plan(names)
        lo, hi = int(lo), int(min(hi, self.layout.n_rows))
        out = np.empty((max(hi - lo, 0), len(names)), dtype=dtype)
        blocks = self.layout.blocks
        try:
            for start in range(lo, hi, BATCH_ROWS):
                stop = min(start + BATCH_ROWS, hi)
                target = out[start - lo : stop - lo]
                records = None
                for b, stored, outs in plan:
                    block = blocks[b]
                    dataset = self.file[block.node]
                    if block.field is not None:
                        if records is None:  # only the fields this read needs, in one HDF5 read
                            fields = sorted({blocks[i].field for i, _, _ in plan})
                            records = dataset.fields(fields)[start:stop]
                        values = records[block.field].reshape(stop - start, -1)
                    elif block.rows_first:
                        values = dataset[start:stop]
                    else:
                        values = dataset[:, start:stop].T
                    target[:, outs] = values[:, stored]
        except JetaeError:
            raise
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise self.fail(f"could not read rows {lo}-{hi} (truncated or damaged file?): {_first_line(exc)}") from None
        return out


def _as_slice(positions: list[int]) -> slice | np.ndarray:
    """A slice for contiguous increasing positions (a view, ~5x faster than fancy indexing)."""
    if positions and all(b - a == 1 for a, b in zip(positions, positions[1:])):
        return slice(positions[0], positions[-1] + 1)
    return np.asarray(positions, dtype=np.intp)
