import sys
try:
    text = open("week.txt", encoding="utf-8").read().lower()
except OSError:
    sys.exit("no week.txt in the workspace")
keys = ["quarterly budget", "printer supplier", "two candidates"]
pos = [text.find(k) for k in keys]
missing = [k for k, p in zip(keys, pos) if p < 0]
if missing:
    sys.exit(f"week.txt lacks the note(s) mentioning {missing}")
if pos != sorted(pos):
    sys.exit("the notes in week.txt are not in the order Monday, Tuesday, Wednesday")
lines = [l for l in text.splitlines() if l.strip()]
if len(lines) < 3:
    sys.exit("the three notes are not on separate lines")
