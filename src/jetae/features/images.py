"""Jet images: the "QCD or What?" (arXiv:1808.08979) preprocessing, vectorised over jets.

Recipe, following the authors' preprocessing script step by step:

1. per constituent ``eta`` and ``phi``; ``phi`` is taken relative to the hardest
   constituent and wrapped into ``[-pi, pi)``, so jets across the ``-pi/pi`` seam work;
2. shift the pT-weighted centroid ``(eta, phi)`` to the origin;
3. rotate so the principal axis of the pT-weighted eta-phi inertia tensor is vertical;
4. flip so that most pT sits at ``x < 0`` and ``y > 0`` (x = eta axis, y = phi axis);
5. pixelate on a grid of ``pixel_eta x pixel_phi`` (default 0.029 x 0.035) whose pixel
   centres lie on multiples of the pixel size (nearest-centre assignment, as in the
   original), keeping the ``n_pixels x n_pixels`` pixels around the origin; the origin
   is the centre of pixel ``(n_pixels // 2, n_pixels // 2)``;
6. optionally normalise each image to unit sum.

Pixel intensity is constituent pT in GeV (summed when several constituents share a
pixel; the original script overwrote instead, which loses pT). Image arrays are indexed
``image[jet, y, x]``: rows follow the rotated phi axis (increasing row = increasing y),
columns the rotated eta axis, so the preferred quadrant ``x < 0, y > 0`` is
``rows >= n_pixels // 2, columns < n_pixels // 2`` (upper left with
``imshow(origin="lower")``).

Everything works on flat arrays of the real (non-padding) constituents with per-jet
sums from ``np.bincount`` and pixels filled by one ``np.add.at``; there is no Python
loop over jets, only over fixed-size chunks of jets that bound the temporary memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from jetae.errors import JetaeError
from jetae.features import kinematics
from jetae.features.kinematics import padding_mask

log = logging.getLogger(__name__)

#: Pixel sizes of the "QCD or What?" images (eta, phi).
PIXEL_ETA = 0.029
PIXEL_PHI = 0.035

#: Jets per chunk: bounds the flat float64 temporaries to a few hundred MB.
_CHUNK_JETS = 16384


def positive_int(name: str, value: object) -> int:
    """``value`` as an int >= 1 (integral floats accepted), else a JetaeError naming ``name``."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if float(value).is_integer() and value >= 1:
            return int(value)
    raise JetaeError(f"{name} must be a positive integer, got {value!r}")


@dataclass
class ImageConfig:
    """Options of :func:`jet_images`.

    Attributes
    ----------
    n_pixels:
        Image side in pixels (images are ``n_pixels x n_pixels``).
    pixel_eta, pixel_phi:
        Pixel size along eta (x) and phi (y); the image covers
        ``n_pixels * pixel_eta`` by ``n_pixels * pixel_phi`` (1.16 x 1.40 by default).
    normalize:
        Divide each image by its sum (images with no pT inside stay all zero).
    rotate:
        Rotate the principal axis to the vertical.
    flip:
        Flip so most intensity lies at ``x < 0, y > 0``.
    fixed_mass, fixed_energy:
        If both > 0: rescale and boost every jet to this mass and energy in GeV before making
        its image (:func:`jetae.features.rescale.rescale_and_boost`, arXiv:1903.02032), so
        that the image shows the jet's shape, not its mass. Off (0) by default.
    smooth:
        Gaussian smoothing of each image, sigma in pixels (0: none; done before ``normalize``).
    intensity_power:
        Pixel intensities raised to this power after normalising (1: pT fractions; 0.5
        enhances soft radiation relative to hard cores), then renormalised to unit sum.
    """

    n_pixels: int = 40
    pixel_eta: float = PIXEL_ETA
    pixel_phi: float = PIXEL_PHI
    normalize: bool = True
    rotate: bool = True
    flip: bool = True
    fixed_mass: float = 0.0
    fixed_energy: float = 0.0
    smooth: float = 0.0
    intensity_power: float = 1.0

    def __post_init__(self) -> None:
        self.n_pixels = positive_int("image n_pixels", self.n_pixels)
        for name in ("pixel_eta", "pixel_phi"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
                raise JetaeError(f"image {name} must be a positive number, got {value!r}")
            setattr(self, name, float(value))
        for name in ("fixed_mass", "fixed_energy", "smooth", "intensity_power"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise JetaeError(f"image {name} must be a number >= 0, got {value!r}")
            setattr(self, name, float(value))
        if (self.fixed_mass > 0) != (self.fixed_energy > 0) or self.fixed_energy < self.fixed_mass:
            raise JetaeError(
                "image fixed_mass and fixed_energy go together (both 0, or 0 < fixed_mass < fixed_energy), "
                f"got {self.fixed_mass!r} and {self.fixed_energy!r}"
            )
        if self.intensity_power == 0:
            raise JetaeError("image intensity_power must be > 0")
        for name in ("normalize", "rotate", "flip"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise JetaeError(f"image option {name} must be true or false, got {getattr(self, name)!r}")

    @property
    def extent(self) -> tuple[float, float]:
        """Full width of the image in (eta, phi)."""
        return self.n_pixels * self.pixel_eta, self.n_pixels * self.pixel_phi


def _flat_constituents(constituents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Real constituents as flat float64 arrays ``(jet index, pT, eta, delta_phi to hardest)``."""
    n_jets, n_slots = constituents.shape[:2]
    flat_slot = np.flatnonzero(padding_mask(constituents))
    jet_index = flat_slot // n_slots
    p4 = np.take(constituents.reshape(-1, 4), flat_slot, axis=0).astype(np.float64)
    # Hardest constituent per jet by pT (not just slot 0, in case the input is unsorted).
    hardest = np.argmax(constituents[..., 1] ** 2 + constituents[..., 2] ** 2, axis=1)
    phi_hardest = kinematics.phi(constituents[np.arange(n_jets), hardest].astype(np.float64))
    dphi = kinematics.delta_phi(kinematics.phi(p4), phi_hardest[jet_index])
    pt = kinematics.pt(p4)
    return jet_index, pt, kinematics.eta(p4, pt), dphi


def preprocess_coordinates(
    constituents: np.ndarray, rotate: bool = True, flip: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centred, rotated and flipped image coordinates of every real constituent.

    Parameters
    ----------
    constituents:
        ``(n_jets, n_constituents, 4)`` ``(E, px, py, pz)`` in GeV, all-zero rows = padding.

    Returns
    -------
    jet_index, x, y, pt:
        Flat arrays over the real constituents: owning jet, image x (along eta) and
        y (along phi) in the same units as eta/phi, and the weight pT in GeV.
    """
    n_jets = len(constituents)
    jet_index, pt, x, y = _flat_constituents(constituents)
    total = np.bincount(jet_index, pt, minlength=n_jets)
    # Jets whose constituents all lie on the beam axis have no pT: avoid 0/0.
    total = np.where(total > 0.0, total, 1.0)

    def per_jet_mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(jet_index, pt * values, minlength=n_jets) / total

    x = x - per_jet_mean(x)[jet_index]
    y = y - per_jet_mean(y)[jet_index]

    if rotate:
        # Principal axis of [[xx, xy], [xy, yy]] is at angle alpha to the x axis;
        # rotating anticlockwise by pi/2 - alpha makes it vertical.
        xx, xy, yy = per_jet_mean(x * x), per_jet_mean(x * y), per_jet_mean(y * y)
        angle = (0.5 * np.pi - 0.5 * np.arctan2(2.0 * xy, xx - yy))[jet_index]
        cos, sin = np.cos(angle), np.sin(angle)
        x, y = cos * x - sin * y, sin * x + cos * y

    if flip:
        left = np.bincount(jet_index, pt * (x < 0.0), minlength=n_jets)
        right = np.bincount(jet_index, pt * (x > 0.0), minlength=n_jets)
        below = np.bincount(jet_index, pt * (y < 0.0), minlength=n_jets)
        above = np.bincount(jet_index, pt * (y > 0.0), minlength=n_jets)
        x = x * np.where(left < right, -1.0, 1.0)[jet_index]
        y = y * np.where(below > above, -1.0, 1.0)[jet_index]
    return jet_index, x, y, pt


def jet_images(
    constituents: np.ndarray,
    n_pixels: int = 40,
    pixel_eta: float = PIXEL_ETA,
    pixel_phi: float = PIXEL_PHI,
    normalize: bool = True,
    rotate: bool = True,
    flip: bool = True,
    extent: tuple[float, float] | None = None,
) -> np.ndarray:
    """Preprocessed pT images of jets (see the module docstring for the recipe).

    Parameters
    ----------
    constituents:
        ``(n_jets, n_constituents, 4)`` ``(E, px, py, pz)`` in GeV, all-zero rows = padding.
    n_pixels:
        Image side; the ``n_pixels x n_pixels`` pixels around the jet centroid are kept.
    pixel_eta, pixel_phi:
        Pixel size in eta (x) and phi (y), 0.029 x 0.035 as in "QCD or What?".
    normalize:
        Scale each image to unit sum (after cropping).
    rotate, flip:
        Principal-axis rotation and quadrant flip.
    extent:
        Alternative to the pixel sizes: full image width ``(eta, phi)``; if given,
        ``pixel_eta, pixel_phi = extent / n_pixels``.

    Returns
    -------
    ``(n_jets, n_pixels, n_pixels)`` float32 images indexed ``[jet, y (phi), x (eta)]``,
    intensity pT in GeV, or fractions of the in-image pT if ``normalize``.
    """
    if extent is not None:
        n_pixels = positive_int("image n_pixels", n_pixels)
        if np.shape(extent) != (2,):
            raise JetaeError(f"image extent must be (width in eta, width in phi), got {extent!r}")
        pixel_eta, pixel_phi = (float(e) / n_pixels for e in extent)
    config = ImageConfig(n_pixels, pixel_eta, pixel_phi, normalize, rotate, flip)
    constituents = np.asarray(constituents)
    if constituents.ndim != 3 or constituents.shape[2] != 4:
        raise JetaeError(f"constituents must have shape (n_jets, n_constituents, 4), got {constituents.shape}")
    n, n_jets = config.n_pixels, len(constituents)
    images = np.zeros((n_jets, n, n), dtype=np.float32)
    for lo in range(0, n_jets, _CHUNK_JETS):
        chunk = constituents[lo : lo + _CHUNK_JETS]
        jet_index, x, y, pt = preprocess_coordinates(chunk, rotate=config.rotate, flip=config.flip)
        # Nearest pixel centre: centres at multiples of the pixel size, origin in pixel n // 2.
        column = np.floor(x / config.pixel_eta + 0.5).astype(np.int64) + n // 2
        row = np.floor(y / config.pixel_phi + 0.5).astype(np.int64) + n // 2
        inside = (column >= 0) & (column < n) & (row >= 0) & (row < n)
        jet_index, row, column, pt = jet_index[inside], row[inside], column[inside], pt[inside]
        if config.normalize:
            # Normalise the weights rather than the images: far fewer numbers to divide.
            sums = np.bincount(jet_index, pt, minlength=len(chunk))
            pt = pt / np.where(sums > 0.0, sums, 1.0)[jet_index]
        # Unbuffered float32 add straight into the (contiguous) output: faster than a
        # float64 bincount over every pixel, most of which are empty.
        pixel = ((jet_index + lo) * n + row) * n + column
        np.add.at(images.reshape(-1), pixel, pt.astype(np.float32))
    log.debug("made %d jet images of %dx%d pixels", n_jets, n, n)
    return images


def image_inputs(constituents: np.ndarray, config: ImageConfig) -> np.ndarray:
    """``(n_jets, n_pixels, n_pixels)`` images with every :class:`ImageConfig` option applied:
    fixed-mass rescaling before, Gaussian smoothing and the intensity power after :func:`jet_images`."""
    if config.fixed_mass > 0:
        from jetae.features.rescale import rescale_and_boost

        constituents = rescale_and_boost(constituents, config.fixed_mass, config.fixed_energy)
    plain = config.smooth == 0 and config.intensity_power == 1
    images = jet_images(
        constituents,
        config.n_pixels,
        config.pixel_eta,
        config.pixel_phi,
        config.normalize and plain,  # exactly the plain images when nothing comes after
        config.rotate,
        config.flip,
    )
    if plain:
        return images
    if config.smooth > 0:
        from scipy.ndimage import gaussian_filter

        images = gaussian_filter(images, sigma=(0, config.smooth, config.smooth), mode="constant").astype(np.float32)
    if config.normalize or config.intensity_power != 1:
        sums = images.sum(axis=(1, 2), keepdims=True)
        images = images / np.where(sums > 0, sums, 1.0)
    if config.intensity_power != 1:
        images = images**config.intensity_power
        sums = images.sum(axis=(1, 2), keepdims=True)
        images = images / np.where(sums > 0, sums, 1.0)
    return images.astype(np.float32)
