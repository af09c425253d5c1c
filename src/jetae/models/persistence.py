"""What a saved model directory is: file names, the format, and the checks that it is exactly what jetae wrote."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from jetae.errors import JetaeError

MODEL_FORMAT = "jetae-model/3"
#: Formats of older jetae versions, refused with a clear message.
OLD_MODEL_FORMATS = {
    "jetae-model/1": "training options not yet in their own 'trainer' section",
    "jetae-model/2": "no 'contamination' option and no fitted decision threshold yet",
}
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
HISTORY_FILE = "history.json"


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of the model directory ``path``, checked to be a jetae model config of this format."""
    path = Path(path)
    if not path.is_dir():
        raise JetaeError("not a jetae model directory (no such directory)", path)
    config_path = path / CONFIG_FILE
    if not config_path.exists():
        raise JetaeError(f"not a jetae model directory (no {CONFIG_FILE})", path)
    try:
        meta = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JetaeError(f"damaged model config: {exc}", config_path) from exc
    if isinstance(meta, dict) and meta.get("format") in OLD_MODEL_FORMATS:
        raise JetaeError(
            f"written by an older jetae (format {meta['format']!r}: "
            f"{OLD_MODEL_FORMATS[meta['format']]}); retrain the model with this version "
            f"(format {MODEL_FORMAT!r})",
            config_path,
        )
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT or "model" not in meta:
        raise JetaeError(f"not a jetae model config (expected format {MODEL_FORMAT!r})", config_path)
    return meta


#: ``config.json`` keys :meth:`Detector.save` writes only sometimes.
OPTIONAL_METADATA = ("provenance",)

#: ``config.json`` keys that follow from the config: a saved value must equal the recomputed one.
DERIVED_METADATA = ("format", "model", "seed", "score_names", "member_configs")


def check_metadata(meta: dict[str, Any], expected: dict[str, Any], path: Path) -> None:
    """Refuse (JetaeError naming ``path/config.json``) a ``config.json`` ``meta`` that differs from the
    ``expected`` one (``Detector.metadata()`` of the model its options give) in what jetae writes."""
    problems = []
    missing = sorted(set(expected) - set(meta))
    unexpected = sorted(set(meta) - set(expected) - set(OPTIONAL_METADATA))
    if unexpected:
        problems.append(f"unexpected key(s) {', '.join(unexpected)}")
    if missing:
        problems.append(f"missing key(s) {', '.join(missing)}")
    for section, written in (("config", expected["config"]), ("trainer", expected["trainer"])):
        saved = meta.get(section)
        if written is None or not isinstance(saved, dict):
            if section in meta and saved != written:
                problems.append(f"{section!r} is not as the model gives ({written!r})")
            continue
        missing_options = sorted(set(written) - set(saved))
        if missing_options:
            problems.append(f"missing option(s) {', '.join(missing_options)} in {section!r}")
        unexpected_options = sorted(set(saved) - set(written))
        if unexpected_options:
            problems.append(f"unexpected option(s) {', '.join(unexpected_options)} in {section!r}")
        changed = sorted(key for key in written if key in saved and saved[key] != written[key])
        if changed:
            problems.append(f"option(s) {', '.join(changed)} not in the form jetae writes")
    derived = sorted(key for key in DERIVED_METADATA if key in expected and key in meta and meta[key] != expected[key])
    if derived:
        problems.append(f"{', '.join(derived)} not as the config gives")
    shape = meta.get("input_shape")
    if "input_shape" in meta and not (
        isinstance(shape, list)
        and shape
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
    ):
        problems.append(f"invalid input_shape {shape!r}")
    for key in ("versions", "provenance"):
        if key in meta and not isinstance(meta[key], dict):
            problems.append(f"{key} is not a mapping")
    if problems:
        # options jetae gained since the model was saved look the same as ones removed by hand
        older = any("missing option" in problem for problem in problems)
        reason = "tampered, or saved by an earlier jetae? then retrain it" if older else "tampered?"
        raise JetaeError(f"not as jetae writes it ({reason}): {'; '.join(problems)}", path / CONFIG_FILE)


def pop_array(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Remove and return ``arrays[name]``, checked against the shape and dtype jetae writes.

    Raises ValueError naming the tensor when it is missing or of another shape or dtype.
    """
    if name not in arrays:
        raise ValueError(f"missing tensor {name}")
    value = arrays.pop(name)
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"tensor {name} has shape {tuple(value.shape)}, expected {tuple(shape)}")
    if value.dtype != np.dtype(dtype):
        raise ValueError(f"tensor {name} is {value.dtype}, expected {np.dtype(dtype)}")
    return value


def layout_differences(found: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Differences in names, shapes and dtypes between two dicts of numpy arrays or torch tensors.

    ``["unexpected tensor(s) a", "missing tensor(s) b", "tensor c has shape (3,), expected (4,)", ...]``
    """

    def layout(value: Any) -> tuple[tuple[int, ...], str]:
        return tuple(value.shape), str(value.dtype).removeprefix("torch.")

    problems = []
    unexpected = sorted(set(found) - set(expected))
    missing = sorted(set(expected) - set(found))
    if unexpected:
        problems.append(f"unexpected tensor(s) {', '.join(unexpected)}")
    if missing:
        problems.append(f"missing tensor(s) {', '.join(missing)}")
    for name in sorted(set(found) & set(expected)):
        (found_shape, found_dtype), (shape, dtype) = layout(found[name]), layout(expected[name])
        if found_shape != shape:
            problems.append(f"tensor {name} has shape {found_shape}, expected {shape}")
        elif found_dtype != dtype:
            problems.append(f"tensor {name} is {found_dtype}, expected {dtype}")
    return problems


def json_value(value: Any) -> Any:
    """JSON for numpy / torch numbers and arrays that hooks may put into the history."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "detach") and hasattr(value, "tolist"):  # torch.Tensor, without importing torch
        return value.detach().cpu().tolist()
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None
