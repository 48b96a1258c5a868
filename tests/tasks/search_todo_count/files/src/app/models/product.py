from dataclasses import dataclass

@dataclass
class Product:
    sku: str
    price: float
    qty: int = 1
