from utils.money import round_cents

def test_round():
    assert round_cents(0.125) == 0.13
