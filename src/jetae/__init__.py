"""jetae: unsupervised anomaly detection on collider jets with autoencoders.

Data flows one way: file -> jets -> representation -> model -> score -> metrics -> report.
Each step is a plain function or estimator usable on its own.
"""

from jetae.errors import JetaeError
from jetae.jets import Jets

__version__ = "0.1.0"

__all__ = ["Jets", "JetaeError", "__version__"]
