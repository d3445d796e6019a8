"""The Content-Security-Policy of every page: only this server's own scripts, styles and sockets.

Pages are server-rendered with vendored static files and no inline scripts,
so a script injected into a page (a charger's vendor string, a driver's name)
cannot run, and nothing is fetched from elsewhere. Django 5.2 has no CSP
setting of its own (it arrives in 6.0).
"""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",  # the dashboard's WebSocket is same-origin (ws: and wss: by 'self' in CSP 3)
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)


def content_security_policy(get_response):
    def middleware(request):
        response = get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return middleware
