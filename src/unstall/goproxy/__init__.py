"""The GOPROXY protocol engine: paths, hashes, upstreams, single-flight, store, ASGI app."""
