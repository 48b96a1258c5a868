def render(cart):
    # TODO: show taxes separately
    return f"Total: {cart.total():.2f}"
