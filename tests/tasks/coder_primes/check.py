import os, sys
WANT = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97]
if not os.path.isfile("primes.py"):
    sys.exit("no primes.py in the workspace")
try:
    lines = [l.strip() for l in open("primes.txt", encoding="utf-8") if l.strip()]
except OSError:
    sys.exit("no primes.txt in the workspace")
try:
    got = [int(l) for l in lines]
except ValueError:
    sys.exit(f"primes.txt has a line that is not a number: {lines[:5]}")
if got != WANT:
    sys.exit(f"primes.txt has {got[:8]}... ({len(got)} numbers), expected the 25 primes below 100")
