"""cachebench: benchmark caching strategies for FastAPI services on honest numbers."""

__version__ = "0.1.0"
