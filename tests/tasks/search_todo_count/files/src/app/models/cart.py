class Cart:
    def __init__(self):
        self.items = []

    def total(self):
        # TODO: apply discount codes
        return sum(i.price * i.qty for i in self.items)
