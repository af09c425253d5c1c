"""Compatibility: moved to :mod:`jetae.generation.shards`; import from there."""

from jetae.generation.shards import (
    MAX_BATCH_EVENTS,
    MAX_EVENTS_WITHOUT_JETS,
    MIN_BATCH_EVENTS,
    ShardResult,
    ShardTask,
    run_shard,
    shard_seed,
    shard_sizes,
)

__all__ = [
    "MAX_BATCH_EVENTS",
    "MAX_EVENTS_WITHOUT_JETS",
    "MIN_BATCH_EVENTS",
    "ShardResult",
    "ShardTask",
    "run_shard",
    "shard_seed",
    "shard_sizes",
]
