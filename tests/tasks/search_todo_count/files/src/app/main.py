from app.server import serve

def main():
    # TODO: read the port from the environment
    serve(port=8080)
