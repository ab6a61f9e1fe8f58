"""The version of mcuq, in one place that every stage can import without importing the pipeline."""

__version__ = "0.1.0"
