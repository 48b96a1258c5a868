import csv, sys
EXPECTED = [['Aiko Tanaka', 'aiko@example.org'], ['Chiara Rossi', 'chiara@example.org'], ['Dmitri Volkov', 'd.volkov@example.org']]
try:
    rows = [r for r in csv.reader(open("users.csv", encoding="utf-8", newline="")) if any(c.strip() for c in r)]
except OSError:
    sys.exit("no users.csv in the workspace")
rows = [[c.strip() for c in r] for r in rows]
if not rows or [c.lower() for c in rows[0]] != ["name", "email"]:
    sys.exit(f"the header is {rows[0] if rows else None}, expected name,email")
if rows[1:] != EXPECTED:
    sys.exit(f"the rows are {rows[1:]}, expected {EXPECTED}")
