import re
from collections import Counter

words = re.findall(r"[a-z]+", open("speech.txt").read().lower())
for word, n in Counter(words).most_common(3):
    print(word, n)
