import os, re, sys
answer = os.environ.get("HAMLET_ANSWER")
if answer is None:
    sys.exit("the agent gave no answer")
a = answer.lower()
if "thursday" not in a:
    sys.exit(f"the answer does not say Thursday: {answer!r}")
if not re.search(r"\b15[:.]00\b|\b3(:00)?\s*(pm|p\.m\.)", a):
    sys.exit(f"the answer does not give the time 15:00 (3 pm): {answer!r}")
