import os, re, sys
TOP = [('the', 17), ('and', 6), ('river', 5)]
if not os.path.isfile("top_words.py"):
    sys.exit("no top_words.py in the workspace")
try:
    lines = [l.lower() for l in open("top_words.txt", encoding="utf-8") if l.strip()]
except OSError:
    sys.exit("no top_words.txt in the workspace")
for word, n in TOP:
    if not any(re.search(rf"\b{word}\b", l) and re.search(rf"\b{n}\b", l) for l in lines):
        sys.exit(f"top_words.txt has no line with {word!r} and its count {n}")
