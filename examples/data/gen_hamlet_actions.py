#!/usr/bin/env python3
"""Writes hamlet-actions.jsonl (training) and hamlet-actions.heldout.jsonl (evaluation).

Chat records that teach a small model Hamlet's agent action format: the assistant replies with
ONE JSON object {"thoughts": {"reasoning", "plan", "criticism"}, "tool", "args"}. The system
message lists the tools, the user message gives the goal and recent observations. Deterministic
(seeded); run `python3 examples/data/gen_hamlet_actions.py` from the repository root.
"""
import json
import random

SYSTEM = (
    "You are an autonomous agent. Reply with ONE JSON object: "
    '{"thoughts": {"reasoning": "...", "plan": "...", "criticism": "..."}, "tool": "<tool>", "args": {...}}.\n'
    "Tools: read_file {path}; write_file {path, content}; append_file {path, content}; list_dir {path}; "
    "search_files {pattern}; calculator {expression}; http_get {url}; remember {text}; recall {query}; "
    "finish {answer}."
)

FILES = ["notes.txt", "todo.md", "report.md", "data.csv", "README.md", "log.txt", "plan.md",
         "budget.csv", "ideas.txt", "summary.md", "config.toml", "recipes.txt", "poem.txt", "names.txt"]
DIRS = [".", "docs", "src", "data", "notes", "reports"]
TOPICS = ["the town budget", "the bakery", "the library hours", "the park festival", "the river",
          "the school play", "the market prices", "the weather", "the bus timetable", "the museum"]
URLS = ["https://example.com/news", "https://example.org/weather", "https://example.com/prices",
        "https://example.net/timetable", "https://example.org/events"]
EXPRS = [("12 * 7", "84"), ("365 / 5", "73"), ("2 ** 10", "1024"), ("19 + 23", "42"),
         ("(4 + 6) * 3", "30"), ("100 - 37", "63"), ("81 / 9", "9"), ("15 * 15", "225"),
         ("7 * 8 + 2", "58"), ("1000 / 8", "125"), ("3.5 * 4", "14"), ("250 - 125", "125")]
FACTS = ["the meeting is on Friday", "Ada prefers tea", "the key is under the mat",
         "the bakery opens at seven", "the budget is 4200 coins", "Bob lives on Main Street"]


def action(reasoning, plan, criticism, tool, args):
    return json.dumps({"thoughts": {"reasoning": reasoning, "plan": plan, "criticism": criticism},
                       "tool": tool, "args": args}, ensure_ascii=False)


def user(goal, observations):
    obs = "\n".join(f"- {o}" for o in observations) if observations else "- none yet"
    return f"Goal: {goal}\nRecent observations:\n{obs}"


def cases(r):
    f, f2, d, t = r.choice(FILES), r.choice(FILES), r.choice(DIRS), r.choice(TOPICS)
    e, val = r.choice(EXPRS)
    url, fact = r.choice(URLS), r.choice(FACTS)
    return [
        (f"Summarise {f}.", [],
         action(f"I need the contents of {f} before I can summarise it.", f"Read {f}, then write a summary.",
                "Do not guess the contents.", "read_file", {"path": f})),
        (f"Summarise {f}.", [f"read_file {f}: '{t.capitalize()} was discussed; three decisions were made.'"],
         action("I have read the file and can now answer.", "Give the summary and finish.",
                "Keep it short.", "finish", {"answer": f"{f} says {t} was discussed and three decisions were made."})),
        (f"Find out which files are in {d}.", [],
         action(f"Listing {d} shows its files.", f"List {d}, then report.", "One call is enough.",
                "list_dir", {"path": d})),
        (f"Write a short note about {t} to {f}.", [],
         action(f"The goal asks for a note in {f}.", "Write the note, then finish.",
                "The note should be brief.", "write_file", {"path": f, "content": f"A note about {t}."})),
        (f"Add a line about {t} to {f2}.", [f"read_file {f2}: 'Existing notes.'"],
         action(f"{f2} exists, so I should append rather than overwrite.", "Append one line, then finish.",
                "Do not erase existing notes.", "append_file", {"path": f2, "content": f"\nAlso: {t}."})),
        (f"What is {e}?", [],
         action("This is arithmetic, so the calculator is exact.", "Compute it, then answer.",
                "Do not do it in my head.", "calculator", {"expression": e})),
        (f"What is {e}?", [f"calculator {e}: {val}"],
         action("The calculator returned the result.", "Answer with it.", "Nothing left to check.",
                "finish", {"answer": val})),
        (f"Find every file that mentions {t}.", [],
         action(f"A search finds files mentioning {t}.", "Search, then read the matches.",
                "The pattern should be specific.", "search_files", {"pattern": t.split()[-1]})),
        (f"Get the latest page from {url} and report its headline.", [],
         action("The page must be fetched first.", "Fetch it, then report the headline.",
                "Only report what the page says.", "http_get", {"url": url})),
        (f"Remember that {fact}.", [],
         action("The user wants this kept for later.", "Store it in memory, then finish.",
                "Store the fact as given.", "remember", {"text": fact})),
        (f"What did I tell you about {fact.split()[1]}?", [],
         action("This was said earlier, so memory may have it.", "Recall it, then answer.",
                "Do not invent an answer.", "recall", {"query": fact.split()[1]})),
        (f"Check whether {f} exists in {d}.", [f"list_dir {d}: {f}, {f2}"],
         action(f"The listing shows {f}.", "Report that it exists.", "The listing is recent enough.",
                "finish", {"answer": f"Yes, {f} is in {d}."})),
    ]


def records(seed, n):
    r = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        goal, obs, reply = r.choice(cases(r))
        if (goal, reply) in seen:
            continue
        seen.add((goal, reply))
        out.append({"messages": [{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": user(goal, obs)},
                                 {"role": "assistant", "content": reply}]})
    return out


def write(path, recs):
    with open(path, "w", encoding="utf-8") as f:
        for rec in recs:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    train = records(1, 120)
    seen = {r["messages"][1]["content"] for r in train}
    held = [r for r in records(2, 200) if r["messages"][1]["content"] not in seen][:30]
    write("examples/data/hamlet-actions.jsonl", train)
    write("examples/data/hamlet-actions.heldout.jsonl", held)
    print(f"wrote {len(train)} training and {len(held)} held-out records")
