"""mlbasics: datasets -> preprocessing -> Keras MLP variants -> evaluation -> reports, tracked in MLflow.

Kept import-light: the Snakefile imports `mlbasics.config` and `mlbasics.pipeline` on every run.
"""

__version__ = "0.1.0"
