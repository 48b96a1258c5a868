"""Prints the mean of the numbers in numbers.txt (one per line)."""


def read_numbers(path):
    with open(path) as f:
        return [float(line) for line in f if line.strip()]


def mean(values):
    total = 0
    for i in range(len(values) - 1):
        total += values[i]
    return total / len(values)


if __name__ == "__main__":
    print(mean(read_numbers("numbers.txt")))
