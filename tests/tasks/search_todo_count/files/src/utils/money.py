def round_cents(x):
    return round(x + 1e-9, 2)
