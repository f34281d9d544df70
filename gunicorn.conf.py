"""Settings gunicorn reads by itself from the folder it starts in: the
``gunicorn run:app`` of the README, the Dockerfile and the compose file,
``./bin/serve`` and the benchmarks all start in the checkout.

``reuse_port``: each worker process listens on a socket of its own
(SO_REUSEPORT) and the kernel spreads new connections over them. Without
it the worker that wakes first accepts a whole burst of connections: with a
few long-lived keep-alive clients (a proxy's connection pool, the
benchmark's clients) one process served them all while the others idled,
and the API's throughput was that of one process.
"""

reuse_port = True
