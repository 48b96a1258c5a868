a, b = 1, 1
for _ in range(38):
    a, b = b, a + b
print(b)
