import re, sys
try:
    text = open("bridge.txt", encoding="utf-8").read().lower()
except OSError:
    sys.exit("no bridge.txt in the workspace")
forms = [r"\b12(th)?\s+june,?\s+2025", r"june\s+12(th)?,?\s+2025", r"2025-06-12", r"\b12[./]0?6[./]2025"]
if not any(re.search(f, text) for f in forms):
    sys.exit(f"bridge.txt does not give 12 June 2025: {text.strip()[:200]!r}")
if "5 june" in text or "june 5" in text:
    sys.exit("bridge.txt gives the pedestrian date (5 June) too")
