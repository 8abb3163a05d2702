"""voxhub: a self-hosted backend for AI audio products."""

__version__ = "0.1.0"
