import re, sys
WANT = ['CAB-HDMI-2M', 'CAB-USBC-1M', 'DOCK-USBC', 'MON-27-4K']
ALL = ['CAB-HDMI-2M', 'CAB-USBC-1M', 'DOCK-USBC', 'HS-BT-02', 'KB-US-01', 'MON-27-4K', 'MS-WL-03']
try:
    text = open("reorder.txt", encoding="utf-8").read().upper()
except OSError:
    sys.exit("no reorder.txt in the workspace")
tokens = set(re.findall(r"[A-Z0-9]+(?:-[A-Z0-9]+)+", text))
got = sorted(s for s in ALL if s in tokens)
if got != WANT:
    sys.exit(f"reorder.txt lists {got}, expected {WANT}")
