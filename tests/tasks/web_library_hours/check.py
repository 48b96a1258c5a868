import os, re, sys
answer = os.environ.get("HAMLET_ANSWER")
if answer is None:
    sys.exit("the agent gave no answer")
a = answer.lower()
if not re.search(r"\b16[:.]00\b|\b4(:00)?\s*(pm|p\.m\.)", a):
    sys.exit(f"the answer does not give 16:00 (4 pm): {answer!r}")
if re.search(r"\b(17|18|19|20)[:.]00\b", a):
    sys.exit(f"the answer also gives a weekday closing time: {answer!r}")
