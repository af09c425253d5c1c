"""Anomaly detectors: the Detector API, the registry and the models (listed in ``registry.MODEL_MODULES``).

>>> from jetae.models import create_model, load_model
>>> detector = create_model("conv_ae", epochs=20).fit(qcd_jets)
>>> scores = detector.anomaly_score(test_jets)
"""

from __future__ import annotations

from jetae.models.base import Detector, DetectorConfig, load_model
from jetae.models.registry import available_models, create_model, get_model_spec, register

__all__ = ["Detector", "DetectorConfig", "available_models", "create_model", "get_model_spec", "load_model", "register"]
