#!/usr/bin/env python3
"""Every `repux` command shown in the README and docs/, parsed by the repux program being tested.

A command is a line of a code block (indented or fenced) that starts with `repux ` (or `source <(repux`),
with its `\\` continuations and the aligned `[...]` lines under it. It is run with REPUX_PARSE_ONLY set:
the program checks the subcommand, every option name, the number of values and the enum names, then
exits without working. Placeholders are read as a reader would: `...` (the options shown elsewhere) lets
required options be left out; `[--x]` is the option given; `a|b` is a; `--device cuda` is tried as cpu
(this build may have no CUDA); N is 2.

Usage: doc_commands.py REPUX_BINARY FILE.md|SCRIPT ...  (in a script, every line that starts with repux or srun repux)
Prints each command it checks; exits 1 naming the file, line and error of each one that does not parse.
"""
import os
import re
import shlex
import subprocess
import sys


def code_lines(path):
    """(line number, text) of the lines inside code blocks; of a script (not .md), every line."""
    if not path.endswith(".md"):
        with open(path, encoding="utf-8") as f:
            yield from ((number, "    " + line.rstrip("\n")) for number, line in enumerate(f, 1))
        return
    fenced = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            if fenced or line.startswith("    "):
                yield number, line


def strip_comment(text):
    """The text before a ` #` comment (a `#` inside a word, as in a URL, stays)."""
    match = re.search(r"(^|\s)#", text)
    return text[: match.start()] if match else text


def commands(path):
    """(line number, command text) of each repux command in the file."""
    found = []
    open_command = None  # [line, text, continues]
    for number, line in code_lines(path):
        body = line.strip()
        if open_command and (open_command[2] or body.startswith("[")):
            text = strip_comment(body)
            open_command[1] += " " + text.rstrip("\\")
            open_command[2] = text.rstrip().endswith("\\")
            continue
        open_command = None
        body = re.sub(r"^(\$ |srun )", "", body)
        body = re.sub(r"^source <\((repux [^)]*)\)", r"\1", body)
        if not body.startswith("repux "):
            continue
        text = strip_comment(body).rstrip()
        open_command = [number, text.rstrip("\\"), text.endswith("\\")]
        found.append(open_command)
    return [(number, text) for number, text, _ in found]


def arguments(text):
    """The command's arguments as the program would get them, placeholders filled in; and whether it
    is a fragment (has `...`)."""
    text = re.sub(r"\$\{[^}:]*:-([^}]*)\}", r"\1", text)  # a shell default: ${X:-8} is 8
    words = shlex.split(text.replace("[", " ").replace("]", " "))[1:]
    fragment = False
    out = []
    for i, word in enumerate(words):
        if word == "...":
            fragment = True
            continue
        if "|" in word and not word.startswith("-") and "/" not in word:
            word = word.split("|")[0]
        if word == "N":
            word = "2"
        if i > 0 and words[i - 1] in ("--device", "--augment-device", "--stitch-device") and word.startswith("cuda"):
            word = "cpu"
        out.append(word)
    return out, fragment


def main():
    repux, files = sys.argv[1], sys.argv[2:]
    failures, checked = [], 0
    for path in files:
        for number, text in commands(path):
            args, fragment = arguments(text)
            env = dict(os.environ, REPUX_PARSE_ONLY="fragment" if fragment else "1")
            result = subprocess.run([repux] + args, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
            checked += 1
            status = "ok" if result.returncode == 0 else "FAILED"
            print(f"{status}: {path}:{number}: repux {' '.join(args)}")
            if result.returncode != 0:
                error = (result.stderr.strip() or result.stdout.strip()).splitlines()
                failures.append(f"{path}:{number}: {text}\n    -> {error[0] if error else 'exit ' + str(result.returncode)}")
    if checked < 50:
        failures.append(f"only {checked} commands found in {', '.join(files)}: is the extraction broken?")
    for failure in failures:
        print(failure)
    print(f"{checked} documented commands checked, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
