"""No cache: every read goes to the origin. The baseline every strategy is compared with."""

from contextlib import asynccontextmanager

from cachebench.serve.app import create_app
from cachebench.serve.layered import LayeredCache


@asynccontextmanager
async def no_cache(settings):
    yield LayeredCache([], settings)


app = create_app("nocache", no_cache)
