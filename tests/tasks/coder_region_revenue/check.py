import os, re, sys
BEST, TOTAL = 'South', 23485.75
OTHERS = ['North', 'East', 'West']
if not os.path.isfile("revenue.py"):
    sys.exit("no revenue.py in the workspace")
try:
    text = open("best_region.txt", encoding="utf-8").read()
except OSError:
    sys.exit("no best_region.txt in the workspace")
if BEST.lower() not in text.lower():
    sys.exit(f"best_region.txt does not name {BEST}: {text.strip()[:200]!r}")
wrong = [r for r in OTHERS if re.search(rf"\b{r}\b", text, re.I)]
if wrong:
    sys.exit(f"best_region.txt also names {wrong}")
nums = [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\.?\d*", text)]
if not any(abs(n - TOTAL) < 0.01 for n in nums):
    sys.exit(f"best_region.txt does not give the total {TOTAL:.2f}: {text.strip()[:200]!r}")
