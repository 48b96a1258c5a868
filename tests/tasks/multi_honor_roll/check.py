import re, sys
WANT = ['Aisha', 'Carmen', 'Deniz', 'Farid', 'Hiro']
ALL = ['Aisha', 'Bruno', 'Carmen', 'Deniz', 'Elif', 'Farid', 'Greta', 'Hiro']
try:
    text = open("honors.txt", encoding="utf-8").read()
except OSError:
    sys.exit("no honors.txt in the workspace")
words = set(re.findall(r"[A-Za-z]+", text))
got = sorted(n for n in ALL if n in words)
if got != WANT:
    sys.exit(f"honors.txt names {got}, expected {WANT}")
