"""Your own backend: the class named by ``CACHEBENCH_BACKEND=package.module:Class``.

The class implements ``cachebench.serve.backends.CacheBackend`` and is built as ``Class(settings)``.
"""

import importlib
from contextlib import asynccontextmanager

from cachebench.serve.app import create_app
from cachebench.serve.layered import LayeredCache


@asynccontextmanager
async def custom_cache(settings):
    if settings.backend is None:
        raise ValueError("strategy 'custom' needs CACHEBENCH_BACKEND=package.module:Class")
    module_name, _, class_name = settings.backend.partition(":")
    backend = getattr(importlib.import_module(module_name), class_name)(settings)
    try:
        yield LayeredCache([(backend, settings.l1_ttl_s)], settings)
    finally:
        close = getattr(backend, "aclose", None)
        if close is not None:
            await close()


app = create_app("custom", custom_cache)
