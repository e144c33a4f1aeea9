"""What may stand at the cursor: the context a completion is asked in.

A spec being typed seldom parses, so this reads the tokens before the cursor, not the syntax
tree: it follows the braces (`layers {`, `train {`, a block body), the brackets and the
parentheses of calls (which arguments are given already), and the last tokens before the
cursor (`loss`, `activation=`, `data =`). Nothing here knows the catalogue: the server looks
the names up for the kind found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Kinds of context: a catalogue family ("layer", "loss", "optimizer", "metric", "data",
# "schedule"), "argument" (an argument name of `call`), "value" (the value of `keyword` in
# `call`), "train_setting", "section" (a section keyword in `model {}`), "top" (model, block,
# use), "tensor" (a tensor name), or "none".

_TOKEN = re.compile(
    r'(?P<comment>#[^\n]*)'
    r'|(?P<string>"(?:[^"\\\n]|\\.)*"?)'
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<space>\s+)"
    r"|(?P<op>//|==|!=|<=|>=|.)",
    re.S,
)
_CLOSED_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Keywords that open a braced body; what the body holds.
_HEADERS = {
    "model": "model", "layers": "statements", "block": "statements", "repeat": "statements",
    "if": "statements", "else": "statements", "train": "train", "loss": "loss",
    "loss_weights": "weights", "metrics": "metrics",
}
KEYWORDS = frozenset({
    "model", "use", "block", "repeat", "if", "else", "and", "or", "not", "input", "output",
    "loss_weights", "layers", "loss", "optimizer", "metrics", "train", "true", "false", "none",
})
_GROUP = ("group", "")  # a closed (…), […] or {…}, as its parent sees it


@dataclass(frozen=True)
class Context:
    kind: str
    prefix: str = ""
    call: str | None = None
    """The call whose argument (name or value) is at the cursor."""
    call_family: str | None = None
    """What that call is: "layer" (or a block), "loss", "optimizer", "data", "schedule"."""
    keyword: str | None = None
    """For "value": the argument being given."""
    given: frozenset[str] = frozenset()
    """Argument or setting names already given."""
    positional: int = 0
    """Positional arguments already given to `call`."""


@dataclass
class _Frame:
    opener: str  # "{", "(" or "["
    label: str | None = None  # "{": what the body holds; "(": "call", "tensors" or None
    call: str | None = None
    family: str | None = None
    recent: list[tuple[str, str]] = field(default_factory=list)
    given: set[str] = field(default_factory=set)
    positional: int = 0
    arg: list[tuple[str, str]] = field(default_factory=list)  # tokens of the current argument


def _header(recent: list[tuple[str, str]]) -> str | None:
    """What a `{` opens: the body of the last header keyword before it."""
    for kind, text in reversed(recent):
        if kind == "group" and text == "{":
            return None
        if kind == "name" and text in _HEADERS:
            return _HEADERS[text]
    return None


def _name_kind(frames: list[_Frame], recent: list[tuple[str, str]]) -> str:
    """What a name written here would be, given the frame and the tokens before it."""
    last = recent[-1] if recent else ("", "")
    before = recent[-2] if len(recent) > 1 else ("", "")
    if not frames:
        return "top"
    frame = frames[-1]
    if frame.opener == "(":
        if frame.label == "tensors":
            return "tensor"
        if frame.label != "call":
            return "none"
        if frame.arg and frame.arg[-1] == ("op", "=") and len(frame.arg) == 2:
            return "value"
        if not frame.arg:
            return "argument"
        return "none"
    if frame.opener == "[":
        return frame.label or "none"
    label = frame.label
    if label == "statements":
        if last[0] == "op" and last[1] != "=":
            return "none"
        if last == ("op", "=") and before[0] != "name":
            return "none"
        if last[0] == "name" and last[1] in ("repeat", "if", "and", "or", "not"):
            return "none"
        return "layer"
    if label == "model":
        if last[0] == "name" and last[1] in ("loss", "optimizer", "metrics", "output"):
            return {"loss": "loss", "optimizer": "optimizer", "metrics": "metric",
                    "output": "tensor"}[last[1]]
        if last[0] == "name" and last[1] == "input":
            return "none"
        return "section"
    if label == "train":
        if last == ("op", "="):
            return {"data": "data", "lr_schedule": "schedule"}.get(before[1], "none")
        return "train_setting"
    if label == "loss":
        return "loss" if last == ("op", "=") else "tensor"
    if label in ("weights", "metrics"):
        return "none" if last == ("op", "=") else "tensor"
    return "none"


def context_at(text: str, offset: int) -> Context:
    """The completion context at character `offset` of `text`."""
    before = text[:offset]
    match = _PREFIX.search(before)
    prefix = match.group() if match else ""
    if prefix and match is not None:
        before = before[: match.start()]
    if prefix and prefix[0].isdigit():
        return Context("none", prefix)
    frames: list[_Frame] = []
    top: list[tuple[str, str]] = []  # tokens at the top level

    def recent() -> list[tuple[str, str]]:
        return frames[-1].recent if frames else top

    last_kind, last_text = "", ""  # the last token, white space included
    for m in _TOKEN.finditer(before):
        kind = m.lastgroup or ""
        text_ = m.group()
        last_kind, last_text = kind, text_
        if kind in ("space", "comment"):
            continue
        token = (kind, text_)
        if kind == "op" and text_ in "({[":
            parent = recent()
            frame = _Frame(opener=text_)
            if text_ == "{":
                frame.label = _header(parent)
            elif text_ == "(":
                prev = parent[-1] if parent else ("", "")
                if prev[0] == "name" and prev[1] not in KEYWORDS:
                    is_block_header = len(parent) > 1 and parent[-2] == ("name", "block")
                    if not is_block_header:
                        frame.label = "call"
                        frame.call = prev[1]
                        frame.family = _call_family(frames, parent[:-1])
                elif prev == ("group", "(") and frames and frames[-1].label == "statements":
                    frame.label = "tensors"
            else:
                prev = parent[-1] if parent else ("", "")
                if prev == ("name", "metrics") or (
                    frames and frames[-1].label == "metrics" and prev == ("op", "=")
                ):
                    frame.label = "metric"
                elif prev == ("name", "output"):
                    frame.label = "tensor"
            if frames and frames[-1].opener == "(":
                frames[-1].arg.append(_GROUP)
            frames.append(frame)
            continue
        if kind == "op" and text_ in ")}]":
            if frames:
                closed = frames.pop()
                recent().append(("group", closed.opener))
            continue
        if frames:
            frame = frames[-1]
            if frame.opener == "(":
                if token == ("op", ","):
                    if frame.arg and not (len(frame.arg) > 1 and frame.arg[1] == ("op", "=")):
                        frame.positional += 1
                    frame.arg = []
                    frame.recent.append(token)
                    continue
                if token == ("op", "=") and len(frame.arg) == 1 and frame.arg[0][0] == "name":
                    frame.given.add(frame.arg[0][1])
                frame.arg.append(token)
            elif frame.opener == "{" and token == ("op", "=") and frame.recent[-1:] and (
                frame.recent[-1][0] == "name"
            ):
                frame.given.add(frame.recent[-1][1])
        recent().append(token)
    inside_string = last_kind == "string" and not _CLOSED_STRING.fullmatch(last_text)
    if last_kind == "comment" or inside_string:
        return Context("none", prefix)
    kind = _name_kind(frames, recent())
    frame = frames[-1] if frames else None
    if frame is None:
        return Context(kind, prefix)
    if kind in ("argument", "value"):
        keyword = frame.arg[0][1] if kind == "value" else None
        return Context(
            kind, prefix, call=frame.call, call_family=frame.family, keyword=keyword,
            given=frozenset(frame.given), positional=frame.positional,
        )
    return Context(kind, prefix, given=frozenset(frame.given))


def _call_family(frames: list[_Frame], recent: list[tuple[str, str]]) -> str | None:
    """What a call opened here is: the family its name was written as, or, for a call given
    as an argument, a layer inside a layer (`Bidirectional(LSTM(8))`)."""
    if frames and frames[-1].label == "call":
        return "layer" if frames[-1].family == "layer" else None
    kind = _name_kind(frames, recent)
    return kind if kind in ("layer", "loss", "optimizer", "data", "schedule") else None


__all__ = ["KEYWORDS", "Context", "context_at"]
