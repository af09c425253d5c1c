"""What to generate: the built-in Pythia 8 processes and user cards.

A :class:`ProcessSpec` is everything process-specific that ``jetae generate`` needs: the
Pythia setting lines of the hard process, whether its jets are signal, the PDG id of the
particle a signal jet must be matched to, and the ``PhaseSpace:pTHat`` window used to
make most events give a jet in the default 550-650 GeV window.

Card format (``--card FILE``), one Pythia setting per line, exactly as for
``Pythia::readString``; blank lines and lines starting with ``!`` or ``#`` are comments;
jetae's own options are comment lines of the form ``! jetae: key = value``::

    ! jetae: match = 6          PDG id of the particle whose jets are signal (required)
    ! jetae: name = zprime-tt   short name for the provenance (optional, default: file stem)
    ! jetae: match_mode = decay  how signal jets are matched (optional): decay (default) or axis
    Top:gg2ttbar = on
    24:onMode = off
    24:onIfAny = 1 2 3 4 5

``match = 0`` makes an unmatched background card (every jet in the window counts, like
``qcd``). Settings that jetae controls itself (beam energy, MPI, seeds) may not appear in a
card; use the command-line options instead.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from jetae.errors import JetaeError

log = logging.getLogger(__name__)

#: ``PhaseSpace:pTHat`` window relative to the jet window, ``(lo * pt_min, hi * pt_max)``:
#: 440-812.5 GeV by default, where most events give a jet in the window. It keeps 83 % (qcd),
#: 78 % (top) and 93 % (w) of the window jets that pTHat > 200 GeV gives; the rest come from
#: hard radiation in lower-pTHat events (measured, see docs/generation.md).
DEFAULT_PTHAT_FRACTIONS = (0.8, 1.25)

_HADRONIC_W = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")

#: Truth-matching rules (``! jetae: match_mode = ...``): ``decay`` (the default) needs the
#: matched particle within R of the jet axis and all its coloured decay partons too; ``axis``
#: only the particle (its last copy).
MATCH_MODES = ("decay", "axis")

#: Folder of the cards shipped with jetae (``--card NAME``).
CARDS_DIR = Path(__file__).resolve().parent / "cards"


@dataclass(frozen=True)
class ProcessSpec:
    """A hard process to generate jets from.

    Attributes
    ----------
    name:
        Short name (``qcd``, ``top``, ``w`` or the card's name).
    settings:
        Pythia setting lines for the hard process and decays (no beams, seeds or MPI).
    match_id:
        ``abs(PDG id)`` a signal jet is matched to (6 top, 24 W); ``None`` for background,
        where every jet in the window counts.
    match_mode:
        ``"decay"`` (matched particle and its decay partons within R of the jet) or ``"axis"``
        (the particle alone), see :data:`MATCH_MODES`.
    pthat_fractions:
        ``(lo, hi)``: ``PhaseSpace:pTHatMin = lo * pt_min`` and ``pTHatMax = hi * pt_max``.
    card_path, card_lines, card_text:
        For user cards: the file, the ``(line number, setting)`` pairs (so Pythia's
        complaints can name the line) and the card's full text (for the provenance).
    """

    name: str
    settings: tuple[str, ...]
    match_id: int | None = None
    match_mode: str = "decay"
    pthat_fractions: tuple[float, float] = DEFAULT_PTHAT_FRACTIONS
    card_path: str | None = None
    card_lines: tuple[tuple[int, str], ...] = field(default=(), compare=False)
    card_text: str | None = None

    @property
    def is_signal(self) -> bool:
        """Signal processes are those with a particle to match."""
        return self.match_id is not None

    def pthat_window(self, pt_min: float, pt_max: float) -> tuple[float, float]:
        """``(pTHatMin, pTHatMax)`` in GeV for a jet window ``pt_min < pT < pt_max``."""
        lo, hi = self.pthat_fractions
        return lo * pt_min, hi * pt_max

    def to_dict(self) -> dict:
        """JSON-able description (for manifests and provenance)."""
        return {
            "name": self.name,
            "settings": list(self.settings),
            "match_id": self.match_id,
            "match_mode": self.match_mode,
            "pthat_fractions": list(self.pthat_fractions),
            "card_path": self.card_path,
            "card_text": self.card_text,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ProcessSpec":
        """Inverse of :meth:`to_dict` (used by workers, which may not see the card file)."""
        return cls(
            name=data["name"],
            settings=tuple(data["settings"]),
            match_id=data["match_id"],
            match_mode=data.get("match_mode", "decay"),
            pthat_fractions=tuple(data["pthat_fractions"]),
            card_path=data.get("card_path"),
            card_text=data.get("card_text"),
        )


BUILTIN_PROCESSES: dict[str, ProcessSpec] = {
    "qcd": ProcessSpec(name="qcd", settings=("HardQCD:all = on",)),
    "top": ProcessSpec(
        name="top",
        settings=("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_HADRONIC_W),
        match_id=6,
    ),
    "w": ProcessSpec(
        name="w",
        settings=("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", *_HADRONIC_W),
        match_id=24,
    ),
}

#: Setting prefixes jetae sets itself; a card may not override them.
RESERVED_SETTINGS = (
    "beams:",
    "random:",
    "partonlevel:mpi",
    "phasespace:pthatmin",
    "phasespace:pthatmax",
    "next:",
    "print:",
    "init:",
)

_JETAE_LINE = re.compile(r"^[!#]\s*jetae\s*:\s*(?P<key>[A-Za-z_]+)\s*=\s*(?P<value>\S.*?)\s*$")


def get_process(name: str) -> ProcessSpec:
    """The built-in process ``name`` (``qcd``, ``top`` or ``w``)."""
    try:
        return BUILTIN_PROCESSES[name.lower()]
    except KeyError:
        raise JetaeError(
            f"unknown process '{name}'; choose one of {', '.join(BUILTIN_PROCESSES)} or give --card FILE, "
            f"or --card NAME of a shipped card ({', '.join(shipped_cards())})"
        ) from None


def shipped_cards() -> dict[str, Path]:
    """The cards shipped with jetae, ``{name: file}``; the name is the file's stem."""
    return {card.stem: card for card in sorted(CARDS_DIR.glob("*.cmnd"))}


def find_card(card: str | os.PathLike) -> Path:
    """The card file for ``--card CARD``: a path that exists, else a shipped card's name.

    The name may be given with or without ``.cmnd`` and with ``-`` for ``_``
    (``higgs-bb`` is ``higgs_bb``). An unknown name that looks like no path gives an error
    listing the shipped cards.
    """
    path = Path(card)
    if path.exists():
        return path
    shipped = shipped_cards()
    if str(card) != path.name:  # a path with folders: no shipped card
        raise JetaeError("card file not found", path)
    name = path.name.removesuffix(".cmnd").replace("-", "_")
    if name in shipped:
        return shipped[name]
    raise JetaeError(
        f"card file not found, and no card of that name is shipped with jetae (shipped: {', '.join(shipped)})",
        path,
    )


def read_card(path: str | os.PathLike) -> ProcessSpec:
    """Parse a user card (format in the module docstring) into a :class:`ProcessSpec`.

    ``path`` may also name a shipped card (:func:`find_card`). Only the syntax is checked
    here; :func:`jetae.generation.plan.check_settings` asks Pythia itself whether it accepts
    the settings.

    Raises
    ------
    JetaeError
        Unreadable file or unknown card name, no ``! jetae: match = ID`` line, bad jetae option
        (``match_mode`` other than decay or axis), a reserved
        setting (beams, seeds, MPI, pTHat window), or no settings at all.
    """
    path = find_card(path)
    if path.is_dir():
        raise JetaeError("is a directory, not a card file", path)
    if not path.is_file():
        raise JetaeError("is not a regular file; a card is a text file of Pythia settings", path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise JetaeError(f"cannot read the card: {exc}", path) from exc
    options: dict[str, str] = {}
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        option = _JETAE_LINE.match(line)
        if option:
            key = option["key"].lower()
            if key not in ("match", "name", "match_mode"):
                raise JetaeError(f"line {number}: unknown jetae option '{key}' (known: match, name, match_mode)", path)
            options[key] = option["value"]
            continue
        if line[0] in "!#":
            continue
        # Pythia ignores anything after a '!' on a setting line; keep the setting part only
        setting = line.split("!", 1)[0].strip()
        lowered = setting.replace(" ", "").lower()
        if any(lowered.startswith(prefix) for prefix in RESERVED_SETTINGS):
            raise JetaeError(
                f"line {number}: '{setting}' is set by jetae itself (beam energy, seeds, MPI and the pTHat window "
                "come from the command line: --sqrts, --seed, --mpi, --pt-min/--pt-max)",
                path,
            )
        lines.append((number, setting))
    if "match" not in options:
        raise JetaeError(
            "no '! jetae: match = PDG_ID' line: say which particle signal jets are matched to "
            "(e.g. '! jetae: match = 6' for tops, 'match = 0' for unmatched background)",
            path,
        )
    try:
        match_id = abs(int(options["match"]))
    except ValueError:
        raise JetaeError(f"'! jetae: match = {options['match']}' is not an integer PDG id", path) from None
    match_mode = options.get("match_mode", "decay").lower()
    if match_mode not in MATCH_MODES:
        raise JetaeError(
            f"'! jetae: match_mode = {options['match_mode']}' is not one of {', '.join(MATCH_MODES)}", path
        )
    if not lines:
        raise JetaeError("the card has no Pythia settings", path)
    name = options.get("name", path.stem)
    return ProcessSpec(
        name=name,
        settings=tuple(setting for _, setting in lines),
        match_id=match_id or None,
        match_mode=match_mode,
        card_path=str(path),
        card_lines=tuple(lines),
        card_text=text,
    )
