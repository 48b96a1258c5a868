def render(products):
    rows = [f"{p.sku}: {p.price:.2f}" for p in products]
    return "\n".join(rows)
