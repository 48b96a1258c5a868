DEFAULTS = {"currency": "EUR", "page_size": 20}

def load(path):
    with open(path) as f:
        return dict(DEFAULTS, **eval(f.read()))
