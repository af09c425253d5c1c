"""Negative samples of the NAE: Langevin Monte Carlo in the latent space (z) and the input space (x).

A Langevin step is ``x <- x - step_size * grad E(x) / T + noise * N(0, 1)``, with gradients
taken with respect to the chain only (network parameters are not touched by sampling).

``init="on_manifold"`` (the papers' on-manifold initialisation):

* latent chain: ``z0`` from a standard Gaussian, projected onto the unit sphere when the
  network is spherical; Langevin on ``H(z) = E(D(z))``, re-projected after every step;
* input chain: starts at the decoded ``D(z)``, Langevin on ``E(x)``, clipped to the box of the
  training inputs (non-negative pixels for images).

``init="uniform"`` / ``"gaussian"`` start the input chain from noise instead. A
:class:`ReplayBuffer` keeps chain end points (latents for on-manifold, inputs for noise) and
restarts a fraction of the chains from them (persistent chains). Units: scaled input units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

INITS = ("on_manifold", "uniform", "gaussian")


def chain_description(init: str, z_steps: int, x_steps: int) -> str:
    """``init=on_manifold, z_steps=20, x_steps=20``: how the chains run, for figure captions."""
    return f"init={init}, z_steps={z_steps}, x_steps={x_steps}"


def langevin(
    start: torch.Tensor,
    energy: Callable[[torch.Tensor], torch.Tensor],
    n_steps: int,
    step_size: float,
    noise: float,
    temperature: float = 1.0,
    bounds: tuple[float, float] | None = None,
    grad_clip: float = 0.0,
    project: Callable[[torch.Tensor], torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Run ``n_steps`` Langevin updates ``x <- x - step_size * grad E(x) / T + noise * N(0, 1)``.

    Parameters
    ----------
    start:
        ``(n, ...)`` initial points (not modified).
    energy:
        Maps ``(n, ...)`` to ``(n,)`` per-sample energies; each sample's energy must depend
        on that sample only (no batch statistics), so ``grad(sum(E))`` is per-sample.
    bounds:
        ``(low, high)``: samples are clipped into this box after every step.
    grad_clip:
        Rescale each sample's gradient to at most this L2 norm (0 = off).
    project:
        Applied after every step (e.g. back onto the unit sphere).
    generator:
        Source of the noise (seeded chains are reproducible on CPU).

    Returns
    -------
    ``(n, ...)`` detached end points. Gradients are taken with respect to the chain only:
    parameter ``.grad`` fields are left untouched.
    """
    x = start.detach().clone()
    for _ in range(n_steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(x).sum(), x)
        x = x.detach()
        if grad_clip > 0:
            norm = grad.flatten(1).norm(dim=1).view(-1, *([1] * (grad.ndim - 1)))
            grad = grad * (grad_clip / norm.clamp(min=grad_clip))
        x = x - (step_size / temperature) * grad
        if noise > 0:
            x = x + noise * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        if bounds is not None:
            x = x.clamp(bounds[0], bounds[1])
        if project is not None:
            x = project(x)
    return x.detach()


class ReplayBuffer:
    """Fixed-size ring of chain end points (persistent chains), on the sampling device."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.data: torch.Tensor | None = None
        self.count = 0
        self._next = 0

    def __len__(self) -> int:
        return self.count

    def push(self, samples: torch.Tensor) -> None:
        samples = samples.detach()[-self.capacity :]
        if self.data is None:
            self.data = torch.empty((self.capacity, *samples.shape[1:]), dtype=samples.dtype, device=samples.device)
        index = (self._next + torch.arange(len(samples), device=samples.device)) % self.capacity
        self.data[index] = samples
        self._next = (self._next + len(samples)) % self.capacity
        self.count = min(self.count + len(samples), self.capacity)

    def state(self) -> dict[str, Any]:
        """Contents and position (tensors and ints: fit for a ``weights_only`` checkpoint)."""
        return {"data": self.data, "count": self.count, "next": self._next}

    def load_state(self, state: dict[str, Any]) -> None:
        self.data, self.count, self._next = state["data"], int(state["count"]), int(state["next"])

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        assert self.data is not None and self.count > 0
        index = torch.randint(0, self.count, (n,), generator=generator, device=self.data.device)
        return self.data[index].clone()


@dataclass(frozen=True)
class Chain:
    """Settings of one Langevin chain (see :func:`langevin`)."""

    steps: int
    step_size: float
    noise: float
    temperature: float = 1.0
    grad_clip: float = 0.0


@dataclass
class NegativeSamples:
    """One batch of negative samples and how they were made (energies ``(n,)``, scaled units)."""

    inputs: torch.Tensor
    start_energy: torch.Tensor
    latent: torch.Tensor | None = None
    latent_start_energy: torch.Tensor | None = None


@dataclass(frozen=True)
class LangevinSampler:
    """The NAE's negative-sample chains for one fitted input space.

    ``network`` (given per call) must offer ``project(z)`` and ``decode(z)``; ``energy(network, x)``
    maps inputs ``(n, *input_shape)`` to per-sample energies ``(n,)``.
    """

    init: str
    x_chain: Chain
    z_chain: Chain
    latent_dim: int
    input_shape: tuple[int, ...]
    #: ``[min, max]`` of the training inputs: range of the uniform start, and the box of the input chain.
    input_range: tuple[float, float]
    #: Clip the input chain to ``input_range`` (else unbounded).
    clip_inputs: bool = True
    replay_fraction: float = 0.0

    @property
    def bounds(self) -> tuple[float, float] | None:
        return self.input_range if self.clip_inputs else None

    @property
    def steps_per_batch(self) -> int:
        """Langevin steps per batch of chains: latent (on-manifold only) plus input steps."""
        return (self.z_chain.steps if self.init == "on_manifold" else 0) + self.x_chain.steps

    def describe(self) -> str:
        """How the chains run, in one line (figure captions)."""
        return chain_description(self.init, self.z_chain.steps, self.x_chain.steps)

    def initial_inputs(self, n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
        """``n`` noise starts of the input chain (``uniform`` in the input range, or ``gaussian``)."""
        shape = (n, *self.input_shape)
        low, high = self.input_range
        if self.init == "uniform":
            return low + (high - low) * torch.rand(shape, generator=generator, device=device)
        start = torch.randn(shape, generator=generator, device=device)
        return start if self.bounds is None else start.clamp(*self.bounds)

    def sample(
        self,
        network: nn.Module,
        energy: Callable[[nn.Module, torch.Tensor], torch.Tensor],
        n: int,
        device: torch.device,
        generator: torch.Generator | None = None,
        buffer: ReplayBuffer | None = None,
    ) -> NegativeSamples:
        """Draw ``n`` negative samples (scaled input units) with the configured chains.

        Runs in fp32 with gradients enabled even inside ``no_grad`` / autocast regions.
        """
        n_replay = int(round(n * self.replay_fraction)) if buffer is not None and len(buffer) else 0
        x_chain, z_chain = self.x_chain, self.z_chain
        with torch.enable_grad(), torch.autocast(device_type=device.type, enabled=False):
            if self.init == "on_manifold":
                fresh = torch.randn((n - n_replay, self.latent_dim), generator=generator, device=device)
                parts = [buffer.sample(n_replay, generator)] if n_replay else []
                latent0 = network.project(torch.cat(parts + [fresh]))

                def latent_energy(latent: torch.Tensor) -> torch.Tensor:
                    return energy(network, network.decode(latent))

                latent = langevin(
                    latent0,
                    latent_energy,
                    z_chain.steps,
                    z_chain.step_size,
                    z_chain.noise,
                    z_chain.temperature,
                    None,
                    z_chain.grad_clip,
                    network.project,
                    generator,
                )
                if buffer is not None:
                    buffer.push(latent)
                with torch.no_grad():
                    start = network.decode(latent)
                    if self.bounds is not None:
                        start = start.clamp(*self.bounds)
                    latent_start_energy = latent_energy(latent0) if z_chain.steps else None
            else:
                latent = latent_start_energy = None
                parts = [buffer.sample(n_replay, generator)] if n_replay else []
                start = torch.cat(parts + [self.initial_inputs(n - n_replay, device, generator)])
            with torch.no_grad():
                start_energy = energy(network, start)
            inputs = langevin(
                start,
                lambda x: energy(network, x),
                x_chain.steps,
                x_chain.step_size,
                x_chain.noise,
                x_chain.temperature,
                self.bounds,
                x_chain.grad_clip,
                None,
                generator,
            )
            if buffer is not None and self.init != "on_manifold":
                buffer.push(inputs)
        return NegativeSamples(inputs, start_energy, latent, latent_start_energy)
