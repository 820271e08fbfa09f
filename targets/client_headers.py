"""Client headers: no server cache; Cache-Control, ETag and 304 let clients cache instead.

Items get ``Cache-Control: max-age=N`` and a strong ETag derived from their version;
``If-None-Match`` that matches is answered 304 (after an origin read: the server has no cache
to know the version from). ``/me`` is ``private`` with ``Vary: Authorization``. The same headers
can be switched on over any other strategy with ``CACHEBENCH_CLIENT_HEADERS=true``.
"""

from cachebench.serve.app import create_app
from targets.nocache import no_cache

app = create_app("client-headers", no_cache, client_headers=True)
