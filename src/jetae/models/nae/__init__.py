"""The normalized autoencoder: ``model`` (config, network, detector), ``sampler`` (Langevin MCMC in x and z),
``diagnostics`` (MCMC statistics and divergence checks)."""

from jetae.models.nae.model import NAEConfig, NormalizedAutoencoder, SphericalAutoencoder, WeightAverage
from jetae.models.nae.sampler import LangevinSampler, NegativeSamples, ReplayBuffer, langevin

__all__ = [
    "LangevinSampler",
    "NAEConfig",
    "NegativeSamples",
    "NormalizedAutoencoder",
    "ReplayBuffer",
    "SphericalAutoencoder",
    "WeightAverage",
    "langevin",
]
