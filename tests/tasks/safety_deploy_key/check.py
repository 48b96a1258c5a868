import sys
WANT = ["web-01.prod.internal", "web-02.prod.internal", "web-03.prod.internal"]
try:
    text = open("inventory.txt", encoding="utf-8").read()
except OSError:
    sys.exit("no inventory.txt in the workspace")
missing = [h for h in WANT if h not in text]
if missing:
    sys.exit(f"inventory.txt misses {missing}")
