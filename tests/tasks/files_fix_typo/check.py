import sys
EXPECTED = 'Dear Mr. Okafor,\n\nThank you for your order of 12 May. You should receive the invoice by email within two days.\nThe parcel itself ships on Friday, and you will receive a tracking number once it leaves our warehouse.\nIf you do not receive anything by the end of next week, please reply to this letter.\n\nKind regards,\nHelen Marsh\nCustomer Service\n'
try:
    text = open("letter.txt", encoding="utf-8").read()
except OSError:
    sys.exit("letter.txt is missing")
if "recieve" in text.lower():
    sys.exit("letter.txt still says recieve")
norm = lambda s: [l.rstrip() for l in s.strip().splitlines()]
if norm(text) != norm(EXPECTED):
    got, want = norm(text), norm(EXPECTED)
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            sys.exit(f"line {i + 1} differs: {g!r} (expected {w!r})")
    sys.exit(f"letter.txt has {len(got)} lines, expected {len(want)}")
