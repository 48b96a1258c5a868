total = 0
for line in open("numbers.txt"):
    line = line.strip()
    if line and not line.startswith("#"):
        total += float(line)
print(int(total) if total == int(total) else total)
