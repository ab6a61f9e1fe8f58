"""Verification: the host build (`host`), the float reference (`reference`), metrics (`compare`),
per-layer diagnosis (`diagnose`)."""

from mcuq.verify.compare import verify_model

__all__ = ["verify_model"]
