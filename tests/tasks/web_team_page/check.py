import sys
WANT = ['Ingrid Solberg', 'Mateo Alvarez', 'Yuki Sato']
OTHERS = ['Olu Adeyemi', 'Clara Weiss', 'Ravi Menon', 'Noor Haddad', 'Tobias Keller']
try:
    text = open("team.txt", encoding="utf-8").read().lower()
except OSError:
    sys.exit("no team.txt in the workspace")
missing = [n for n in WANT if n.lower() not in text]
extra = [n for n in OTHERS if n.lower() in text]
if missing or extra:
    sys.exit(f"team.txt misses {missing} and wrongly lists {extra}")
