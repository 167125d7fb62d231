"""The hubzoo version, recorded in run reports and manifests (``zoo.__version__`` re-exports it)."""

__version__ = "0.1.0"
