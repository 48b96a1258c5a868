"""A small MCP server on stdio (newline-delimited JSON-RPC) with tools that misbehave on purpose.

- echo: answers with its text;
- crash: exits the process mid-call (a server that dies mid-run);
- hang: never answers (a server that hangs; calls run in threads, as in an async server, so the
  others still answer);
- fails: answers with isError;
- bad_schema: a schema llama.cpp's grammar builder refuses (a $ref to nothing).
"""
import json
import os
import sys
import threading
import time

TOOLS = [
    {"name": "echo", "description": "Echo the text back.",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
    {"name": "crash", "description": "Exit the server.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "hang", "description": "Never answer.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "fails", "description": "Always fail.",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "bad_schema", "description": "A schema a grammar cannot be built from.",
     "inputSchema": {"type": "object",
                     "properties": {"code": {"$ref": "#/$defs/Code"}},
                     "required": ["code"]}},
]


LOCK = threading.Lock()


def send(msg):
    with LOCK:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()


def call(mid, name, args):
    if name == "echo":
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "content": [{"type": "text", "text": "echo: " + args.get("text", "")}]}})
    elif name == "crash":
        os._exit(3)
    elif name == "hang":
        time.sleep(3600)
    elif name == "fails":
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "content": [{"type": "text", "text": "it went wrong"}], "isError": True}})
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": "unknown tool " + name}})


for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    msg = json.loads(line)
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        continue  # a notification
    if method == "initialize":
        version = msg.get("params", {}).get("protocolVersion", "2025-06-18")
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "protocolVersion": version,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "quirky", "version": "1.0"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        params = msg["params"]
        args = (mid, params["name"], params.get("arguments") or {})
        threading.Thread(target=call, args=args, daemon=True).start()
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no method " + method}})
