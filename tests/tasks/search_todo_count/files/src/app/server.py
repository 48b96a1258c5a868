import http.server

def serve(port):
    # TODO: graceful shutdown on SIGTERM
    # TODO: log requests as JSON
    http.server.HTTPServer(("", port), http.server.SimpleHTTPRequestHandler).serve_forever()
