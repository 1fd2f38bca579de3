"""airsweep: distributed hyperparameter sweeps on Apache Airflow 3 with the CeleryExecutor."""

__version__ = "0.1.0"
