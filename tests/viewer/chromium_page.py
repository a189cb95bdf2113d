"""Opens a page in headless Chromium and drives it over the DevTools protocol (on a pipe: no port, no
extra package): navigates, waits (at most TIMEOUT seconds) for the page to say it is ready or failed
(document.body.dataset.state, set by the viewer's script), collects every JavaScript exception, console
error and browser log error (a Content-Security-Policy refusal among them), then takes a screenshot and
prints the legend's colours (data-rgb of its rows, with their text).
Usage: chromium_page.py CHROMIUM PAGE.html SCREENSHOT.png [TIMEOUT]
Exit status: 0 ready without errors; 1 otherwise (the reasons printed); 77 Chromium does not start."""
import base64
import json
import os
import subprocess
import sys
import time

browser, page, screenshot = sys.argv[1:4]
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 120
profile = os.path.join(os.path.dirname(os.path.abspath(screenshot)), "chromium-profile")
commands_r, commands_w = os.pipe()
replies_r, replies_w = os.pipe()


def pipe_fds():
    """In the child: the commands pipe on fd 3 and the replies pipe on fd 4, where Chromium expects them."""
    commands, replies_end = os.dup(commands_r), os.dup(replies_w)  # above 4, so that neither dup2 clobbers the other
    os.dup2(commands, 3)
    os.dup2(replies_end, 4)


process = subprocess.Popen(
    [browser, "--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--remote-debugging-pipe",
     f"--user-data-dir={profile}", "--no-first-run", "--disable-extensions", "--hide-scrollbars", "--window-size=1400,900", "about:blank"],
    pass_fds=(3, 4), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=lambda: pipe_fds())
os.close(commands_r)
os.close(replies_w)
replies = os.fdopen(replies_r, "rb")
next_id = 0
errors = []
buffer = b""


def read_message():
    global buffer
    while b"\0" not in buffer:
        chunk = os.read(replies.fileno(), 1 << 20)
        if not chunk:
            raise EOFError("chromium closed the pipe")
        buffer += chunk
    message, buffer = buffer.split(b"\0", 1)
    return json.loads(message)


def note_event(message):
    method, params = message.get("method"), message.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        errors.append("exception: " + details.get("exception", {}).get("description", details.get("text", "?")))
    elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
        errors.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
    elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
        errors.append("log: " + params["entry"].get("text", "?"))


def call(method, params=None, session=None):
    global next_id
    next_id += 1
    message = {"id": next_id, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    os.write(commands_w, json.dumps(message).encode() + b"\0")
    while True:
        reply = read_message()
        if reply.get("id") == next_id:
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply.get("result", {})
        note_event(reply)


try:
    try:
        targets = call("Target.getTargets")["targetInfos"]
    except (EOFError, OSError) as e:
        print(f"SKIPPED: chromium does not start headless ({e}): {process.stderr.read().decode()[-300:]}")
        sys.exit(77)
    target = next(t for t in targets if t["type"] == "page")["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Page", "Log"):
        call(domain + ".enable", session=session)
    call("Page.navigate", {"url": "file://" + os.path.abspath(page)}, session)
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = call("Runtime.evaluate", {"expression": "document.body ? (document.body.dataset.state || '') : ''", "returnByValue": True},
                     session)["result"].get("value", "")
        if state in ("ready", "error"):
            break
        time.sleep(0.2)
    status = call("Runtime.evaluate", {"expression": "(document.getElementById('status') || {}).textContent", "returnByValue": True},
                  session)["result"].get("value")
    shot = call("Page.captureScreenshot", {"format": "png"}, session)["data"]
    with open(screenshot, "wb") as f:
        f.write(base64.b64decode(shot))
    legend = call("Runtime.evaluate", {"expression": "JSON.stringify(Array.from(document.querySelectorAll('[data-rgb]'))"
                                                     ".map(e => [e.dataset.rgb, e.textContent.trim()]))", "returnByValue": True},
                  session)["result"].get("value", "[]")
    for rgb, text in json.loads(legend):
        print(f"legend {rgb} {text}")
    try:
        call("Browser.close")
    except (EOFError, OSError, RuntimeError):
        pass
finally:
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
print(f"{page}: state {state or 'none'} ({status}) after at most {timeout:.0f} s")
for e in errors:
    print("ERROR " + e)
sys.exit(0 if state == "ready" and not errors else 1)
