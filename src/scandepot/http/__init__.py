"""What the API and the web pages share, owned by neither: the request dependencies
(context, actor, CSRF), the mapping of domain errors to HTTP, request limits, and the
zero-copy file response with the server that sends it.

Nothing here imports api/ or web/; both import it (tests/test_http_layer.py keeps it so).
"""
