"""Decode pickles of plain data without the :mod:`pickle` module: nothing is ever imported or run.

pandas stores some HDF5 attributes (column names, empty-array shapes) as protocol-0
pickles, which PyTables unpickles when it opens the node; a crafted file could run code
the moment it is opened. :func:`decode_pickle` walks :func:`pickletools.genops` (a
parser only) and evaluates a whitelist of data-only opcodes (:data:`SAFE_OPCODES`),
refusing every opcode that imports, calls or builds objects.
"""

from __future__ import annotations

import io
import os
import pickletools
from typing import Any

from jetae.errors import JetaeError

#: Pickle opcodes that only build plain data (lists, tuples, dicts, str, bytes, numbers,
#: None, bools) or manage the stack and memo. Everything else (GLOBAL, STACK_GLOBAL,
#: REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1/2/4, PERSID, BINPERSID, sets,
#: buffers, ...) is refused.
SAFE_OPCODES = frozenset(
    {
        "PROTO",
        "FRAME",
        "STOP",
        "MARK",
        "POP",
        "POP_MARK",
        "DUP",
        "EMPTY_LIST",
        "LIST",
        "APPEND",
        "APPENDS",
        "EMPTY_TUPLE",
        "TUPLE",
        "TUPLE1",
        "TUPLE2",
        "TUPLE3",
        "EMPTY_DICT",
        "DICT",
        "SETITEM",
        "SETITEMS",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "INT",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG",
        "LONG1",
        "LONG4",
        "FLOAT",
        "BINFLOAT",
        "NONE",
        "NEWTRUE",
        "NEWFALSE",
        "PUT",
        "BINPUT",
        "LONG_BINPUT",
        "GET",
        "BINGET",
        "LONG_BINGET",
        "MEMOIZE",
    }
)


def decode_pickle(data: bytes | str, *, path: str | os.PathLike | None = None, where: str = "pickle") -> Any:
    """Decode a pickle of plain data **without** the :mod:`pickle` module.

    Parameters
    ----------
    data:
        The pickled bytes (any protocol, 0-5).
    path, where:
        The file and a description of the pickle (e.g. ``"attribute 'values_block_0_kind'
        of node /table/table"``), for error messages.

    Returns
    -------
    The lists, tuples, dicts, str, bytes, int, float, bool and None the pickle describes.

    Raises
    ------
    JetaeError
        An opcode outside :data:`SAFE_OPCODES` (anything that imports, calls or builds an
        object), or a malformed pickle. Nothing in ``data`` is ever executed.
    """
    if isinstance(data, str):
        data = data.encode("latin-1", errors="replace")
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list[Any]:
        if not marks:
            raise ValueError("no MARK on the stack")
        at = marks.pop()
        items = stack[at:]
        del stack[at:]
        return items

    try:
        for opcode, arg, position in pickletools.genops(io.BytesIO(bytes(data))):
            name = opcode.name
            if name not in SAFE_OPCODES:
                detail = f" {arg!r}" if isinstance(arg, str) else ""
                raise JetaeError(
                    f"{where} is a pickle that would run code or build objects (opcode {name}{detail} at byte "
                    f"{position}); jetae decodes only plain lists, tuples, dicts, strings and numbers and never "
                    "unpickles",
                    path,
                )
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                if len(stack) != 1 or marks:
                    raise ValueError("stack not empty at STOP")
                return stack[0]
            if name == "MARK":
                marks.append(len(stack))
            elif name == "POP":
                if marks and marks[-1] == len(stack):
                    marks.pop()
                else:
                    stack.pop()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(stack[-1])
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                stack.append(pop_mark())
            elif name == "APPEND":
                value = stack.pop()
                _as(stack[-1], list).append(value)
            elif name == "APPENDS":
                items = pop_mark()
                _as(stack[-1], list).extend(items)
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                size = int(name[-1])
                if len(stack) - (marks[-1] if marks else 0) < size:
                    raise ValueError(f"{name} on a short stack")
                items = tuple(stack[-size:])
                del stack[-size:]
                stack.append(items)
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "DICT":
                items = pop_mark()
                if len(items) % 2:
                    raise ValueError("odd number of items for DICT")
                stack.append(dict(zip(items[::2], items[1::2])))
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                _as(stack[-1], dict)[key] = value
            elif name == "SETITEMS":
                items = pop_mark()
                if len(items) % 2:
                    raise ValueError("odd number of items for SETITEMS")
                target = _as(stack[-1], dict)
                for key, value in zip(items[::2], items[1::2]):
                    target[key] = value
            elif name in ("STRING", "BINSTRING", "SHORT_BINSTRING"):
                # Python 2 str: the pickle module decodes it as ASCII by default.
                stack.append(arg.decode("ascii") if isinstance(arg, bytes) else str(arg))
            elif name in ("NONE",):
                stack.append(None)
            elif name == "NEWTRUE":
                stack.append(True)
            elif name == "NEWFALSE":
                stack.append(False)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[int(arg)])
            else:  # str, bytes, int and float opcodes: genops has parsed the value
                stack.append(arg)
    except JetaeError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise JetaeError(
            f"{where} is not a readable pickle of plain data ({exc.__class__.__name__}: {exc})", path
        ) from None
    raise JetaeError(f"{where} is not a readable pickle of plain data (no STOP opcode)", path)


def _as(value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"expected a {kind.__name__} on the stack, found {type(value).__name__}")
    return value
