from app.models.cart import Cart

def test_empty_cart():
    assert Cart().total() == 0

# TODO: test carts with discounts
