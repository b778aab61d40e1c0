"""The README's walkthrough, run as written against the test stack.

Every ```sh block of README.md runs, in order, in ONE bash session (`set -euo pipefail`), so
what one block sets (API, TOKEN, APP, …) carries into the next, as it does for a reader who
pastes the blocks into one shell. No text of the README is rewritten:

- The session runs in a temporary directory that looks like the checkout from the README's
  point of view: `var` links to this stack's directory ($CERTHALL_STACK, whose env file the
  README sources with `. var/env`), `build` to $CERTHALL_BUILD, and every other top-level
  entry (docs, scripts, …) to the repository. Files a block writes land there, not in the
  checkout.
- The session starts without the test's own CERTHALL_* variables, so a block that needs
  them before the README has sourced `var/env` fails here as it would for a reader.

A block is skipped when the line before its fence is `<!-- walkthrough: skip (REASON) -->`
(it needs a real USB key, or would start a stack of its own); the test prints every skipped
block with its heading, README line and reason. Other markers leave a block to run: the
`<!-- integrator-signing: … -->` block runs here in sequence, with the key the README made
just before it, and test_tokens_hmac.py runs it once more on its own, with a key of its own.

What fails the test:
- a command that exits non-zero (set -euo pipefail), named by its README line;
- an HTTP answer of 400 or more, unless the command's comment promises exactly that status
  (curl is a shell function in the session that keeps every status and body);
- a comment `# → NNN …` on a command's last line, or on an indented comment line right
  after it, whose status the command's last answer does not have, or whose `"key":value`
  pairs (inside the first `{…}` after the arrow; strings, numbers, true, false, null; not
  values elided with `…`, nor numeric ids, which differ from a fresh stack's) are found in
  no object of that answer. The answer is the command's last HTTP body; for a command that
  makes no request, its output, else the variable it sets;
- a variable a command sets from a command substitution (`APP=$(curl … | jq -r .id)`) that
  comes out empty or `null`: ids and tokens must flow from one answer to the next request.

The suite signs in many applicants from 127.0.0.1 before this test; a reader's fresh stack
has not, so the per-address SMS rate-limit windows are cleared first (principals.py clears
them when it meets the limit).
"""

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from conftest import ROOT, require_env
from principals import sql

README = ROOT / "README.md"
TIMEOUT = 300  # seconds for the whole walkthrough
MARKER_RE = re.compile(r"^<!--\s*([a-z-]+):\s*(.*?)\s*-->$")
SKIP_RE = re.compile(r"^skip \((.+)\)$")
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
ASSIGNED_RE = re.compile(rf"(?:^|[\s;&|(])({NAME})=\$\(")
PAIR_RE = re.compile(r'"(' + NAME + r')"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)')


@dataclass
class Command:
    start: int                  # README line numbers (1-based) of its first and last lines
    end: int
    lines: list
    comment: str = ""           # the comment after its last line and its indented follow-ups
    code: str = ""              # its text without comments

    @property
    def status(self):
        m = re.search(r"→\s*(\d{3})\b", self.comment)
        return int(m.group(1)) if m else None

    @property
    def pairs(self):
        """The "key": value pairs the comment's first {…} after the arrow promises."""
        arrow = self.comment.find("→")
        brace = self.comment.find("{", arrow) if arrow >= 0 else -1
        if brace < 0:
            return {}
        depth = 0
        for i in range(brace, len(self.comment)):
            depth += {"{": 1, "}": -1}.get(self.comment[i], 0)
            if depth == 0:
                break
        promised = {}
        for key, raw in PAIR_RE.findall(self.comment[brace:i + 1]):
            if "…" in raw:
                continue
            value = json.loads(raw)
            if (key == "id" or key.endswith("_id")) and isinstance(value, int):
                continue
            promised.setdefault(key, []).append(value)
        return promised

    @property
    def assigned(self):
        return sorted(set(ASSIGNED_RE.findall(self.code)))


@dataclass
class Block:
    heading: str
    ordinal: int                # its place among the blocks under that heading, from 1
    line: int                   # README line of its first shell line
    lines: list
    skip: str = None
    commands: list = field(default_factory=list)
    segments: list = field(default_factory=list)  # Command, or lines of comments/blank

    @property
    def name(self):
        return f'"{self.heading}" block {self.ordinal} (README.md:{self.line})'


# ---------------------------------------------------------------------------------
# Reading the README
# ---------------------------------------------------------------------------------

def readme_blocks(text):
    """The ```sh blocks of a Markdown text, with their heading and walkthrough marker."""
    blocks, heading, counts = [], "README", {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip() == "```sh":
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            counts[heading] = counts.get(heading, 0) + 1
            block = Block(heading, counts[heading], i + 2, lines[i + 1:j])
            m = MARKER_RE.match(lines[i - 1].strip()) if i > 0 else None
            if m and m.group(1) == "walkthrough":
                skip = SKIP_RE.match(m.group(2))
                assert skip, (f"README.md:{i}: a walkthrough marker says `skip (REASON)`,"
                              f" not {m.group(2)!r}")
                block.skip = skip.group(1)
            split_commands(block)
            blocks.append(block)
            i = j
        elif line.startswith("```"):   # another fence: skip to its end (no headings inside)
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            i = j
        i += 1
    return blocks


OPENERS = {"if", "for", "while", "until", "case", "{"}
CLOSERS = {"fi", "done", "esac", "}"}


def scan_line(line, stack):
    """Shell-lexes one line, continuing the quoting state in stack (a list of contexts:
    "'", '"', "$(" or "("). Returns (code, bare, comment, backslash): the line without its
    comment; only what stands outside quotes and $( ), where keywords count; the comment
    (None when there is none); whether a trailing backslash continues the line. Enough for
    the README's shell, not all shell."""
    code, bare, i, n = [], [], 0, len(line)
    while i < n:
        c = line[i]
        top = stack[-1] if stack else None
        step = 1
        if top == "'":
            if c == "'":
                stack.pop()
        elif top == '"':
            if c == "\\":
                step = 2
            elif c == '"':
                stack.pop()
            elif line.startswith("$(", i):
                stack.append("$(")
                step = 2
        else:
            if c == "\\":
                if i == n - 1:
                    return "".join(code), "".join(bare), None, True
                step = 2
            elif c in "'\"":
                stack.append(c)
            elif line.startswith("$(", i):
                stack.append("$(")
                step = 2
            elif c == "(":
                stack.append("(")
            elif c == ")" and stack:
                stack.pop()
            elif c == "#" and (i == 0 or line[i - 1] in " \t;|&("):
                return "".join(code), "".join(bare), line[i + 1:], False
            elif not stack:
                bare.append(c)
        code.append(line[i:i + step])
        i += step
    return "".join(code), "".join(bare), None, False


def split_commands(block):
    """Splits a block into commands (a command's lines end where the shell would run it:
    quotes, $( ), continuations, pipes, && / || and compound commands closed) and runs of
    comment and blank lines; attaches to each command its promise comment."""
    stack, depth, current, comments = [], 0, [], []
    for offset, line in enumerate(block.lines):
        number = block.line + offset
        if not current and not stack and (not line.strip() or line.lstrip().startswith("#")):
            last = block.segments[-1] if block.segments else None
            if (isinstance(last, Command) and line[:1] in " \t" and line.strip()
                    and not comments):
                last.comment += " " + line.strip().lstrip("#").strip()   # its answer, cont.
            else:
                comments.append(line)
            continue
        if comments:
            block.segments.append(comments)
            comments = []
        code, bare, comment, backslash = scan_line(line, stack)
        current.append((number, line, code, comment))
        words = re.findall(r"[^\s;&|()]+", bare)
        depth += sum(w in OPENERS for w in words) - sum(w in CLOSERS for w in words)
        tail = code.rstrip()
        if stack or backslash or depth > 0 or tail.endswith(("|", "&&", "||")):
            continue
        cmd = Command(current[0][0], number, [ln for _, ln, _, _ in current],
                      comment=(current[-1][3] or "").strip(),
                      code="\n".join(c for _, _, c, _ in current))
        block.segments.append(cmd)
        block.commands.append(cmd)
        current = []
    assert not current, f"README.md:{current[0][0]}: a command in {block.name} never ends"
    if comments:
        block.segments.append(comments)


# ---------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------

PRELUDE = r"""
set -euo pipefail
__W=$1
: >"$__W/calls"
__ncalls=0

# curl as the README calls it, keeping each answer's headers and body for the checks.
curl() {
    local tag rc=0
    tag=$(mktemp "$__W/answer.XXXXXX")
    command curl -D "$tag.head" "$@" | tee "$tag.body" || rc=$?
    printf '%s\n' "$tag" >>"$__W/calls"
    return "$rc"
}

__status() {
    sed -n 's/^HTTP\/[0-9.]* \([0-9][0-9][0-9]\).*/\1/p' "$1.head" 2>/dev/null | tail -n 1
}

__fail() {
    printf 'walkthrough: README.md:%s: %s\n' "$__line" "$1" >&2
    exit 1
}

__begin() {
    __line=$1
    printf '%s\n' "$1" >"$__W/begun"
    printf '\n$ README.md:%s\n' "$1"
    __ncalls=$(wc -l <"$__W/calls")
}

# __end LINE STATUS VAR...: the answers this command got, its output, its variables.
__end() {
    local want=$2 tag status last= n=0 var value
    shift 2
    cat "$__W/out"
    cp "$__W/out" "$__W/out.$__line"
    while IFS= read -r tag; do
        n=$((n + 1))
        [ "$n" -gt "$__ncalls" ] || continue
        [ -z "$last" ] || [ "$(__status "$last")" -lt 400 ] ||
            __fail "answered $(__status "$last"): $(head -c 600 "$last.body")"
        last=$tag
    done <"$__W/calls"
    if [ -n "$last" ]; then
        status=$(__status "$last")
        [ -n "$status" ] || __fail "an answer without an HTTP status"
        if [ -n "$want" ]; then
            [ "$status" = "$want" ] ||
                __fail "answered $status, not $want: $(head -c 600 "$last.body")"
        elif [ "$status" -ge 400 ]; then
            __fail "answered $status: $(head -c 600 "$last.body")"
        fi
        cp "$last.body" "$__W/answer.$__line"
    elif [ -n "$want" ]; then
        __fail "promises $want but made no request"
    fi
    for var; do
        value=${!var-}
        [ -n "$value" ] && [ "$value" != null ] || __fail "$var came out '${value}'"
        printf '%s' "$value" >"$__W/var.$__line.$var"
    done
    printf '%s\n' "$__line" >"$__W/ended"
}
"""


def session_script(blocks):
    out = [PRELUDE]
    for block in blocks:
        out.append(f"\n# ---- {block.name}" + (f": skipped ({block.skip})" if block.skip else ""))
        if block.skip:
            continue
        out.append(f"printf '\\n#### %s\\n' {shell_quote(block.name)}")
        for seg in block.segments:
            if not isinstance(seg, Command):
                out.extend(seg)
                continue
            out.append(f"__begin {seg.start}")
            out.append("{")
            out.extend(seg.lines)
            out.append('} >"$__W/out"')
            out.append(" ".join(["__end", str(seg.start), f"'{seg.status or ''}'",
                                 *seg.assigned]))
    return "\n".join(out) + "\n"


def shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def checkout_view(workdir, stack, build):
    """A directory that looks like the checkout: var/ and build/ are this stack's."""
    for entry in ROOT.iterdir():
        if entry.name in (".git", "build", "var"):
            continue
        (workdir / entry.name).symlink_to(entry)
    (workdir / "var").symlink_to(stack)
    (workdir / "build").symlink_to(build)


def json_values(text):
    """The JSON documents in an answer or an output: the body after any HTTP headers (curl
    -i), else the whole text, else each line that is JSON."""
    text = text.replace("\r\n", "\n")
    while text.startswith("HTTP/"):
        text = text.split("\n\n", 1)[1] if "\n\n" in text else ""
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def objects(value):
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from objects(v)
    elif isinstance(value, list):
        for v in value:
            yield from objects(v)


def promise_kept(docs, key, value):
    return any(obj.get(key, object()) == value and type(obj[key]) is type(value)
               for doc in docs for obj in objects(doc))


def answer_of(workdir, cmd):
    """What a command's promise is checked against (see the module's docstring)."""
    for path in [workdir / f"answer.{cmd.start}", workdir / f"out.{cmd.start}",
                 *[workdir / f"var.{cmd.start}.{v}" for v in cmd.assigned]]:
        if path.exists() and path.stat().st_size > 0:
            return path.read_text(encoding="utf-8", errors="replace")
    return ""


# ---------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------

def test_readme_blocks_are_found_and_markers_are_well_formed():
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    assert len([b for b in blocks if not b.skip]) >= 5, [b.name for b in blocks]
    for block in blocks:
        assert block.commands or block.skip, f"{block.name} has no command"
        if block.skip:
            assert len(block.skip) >= 10, f"{block.name}: say why it is skipped"


def test_readme_walkthrough_runs_as_written(capsys):
    stack = Path(require_env("CERTHALL_STACK"))
    build = Path(require_env("CERTHALL_BUILD"))
    assert (stack / "env").is_file(), f"{stack}/env is missing"
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    sql("DELETE FROM rate_limit WHERE bucket LIKE 'sms:addr:%%'")

    with tempfile.TemporaryDirectory(prefix="certhall-readme-") as tmp:
        workdir, scratch = Path(tmp) / "checkout", Path(tmp) / "session"
        workdir.mkdir()
        scratch.mkdir()
        checkout_view(workdir, stack, build)
        script = scratch / "walkthrough.sh"
        script.write_text(session_script(blocks), encoding="utf-8")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CERTHALL_") and k != "SOFTHSM2_CONF"}
        proc = subprocess.run(["bash", str(script), str(scratch)], cwd=workdir, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=TIMEOUT)
        transcript = proc.stdout[-6000:]
        begun = (scratch / "begun").read_text().strip() if (scratch / "begun").exists() else "?"
        assert proc.returncode == 0, (
            f"the walkthrough stopped at README.md:{begun} (exit {proc.returncode}):\n"
            f"{proc.stderr[-3000:]}\n--- transcript (end) ---\n{transcript}")

        commands = [c for b in blocks if not b.skip for c in b.commands]
        ended = (scratch / "ended").read_text().strip()
        assert ended == str(commands[-1].start), f"the walkthrough ended at README.md:{ended}"

        broken = []
        for cmd in commands:
            if not cmd.pairs:
                continue
            docs = json_values(answer_of(scratch, cmd))
            missing = {k: v for k, vs in cmd.pairs.items() for v in vs
                       if not promise_kept(docs, k, v)}
            if missing:
                broken.append(f"README.md:{cmd.start}: the answer lacks {missing}: "
                              f"{answer_of(scratch, cmd)[:400]!r}")
        assert not broken, "\n".join(broken)

    skipped = [b for b in blocks if b.skip]
    with capsys.disabled():
        print(f"\nREADME walkthrough: {len(blocks) - len(skipped)} blocks run "
              f"({len(commands)} commands), {len(skipped)} skipped:")
        for block in skipped:
            print(f"  skipped {block.name}: {block.skip}")
