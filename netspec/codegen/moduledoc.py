"""The docstring of a generated module: what it is, a usage example, and its contents.

The list of contents is read from the generated source itself (its top-level functions and
classes), so it names every one, whatever the generators add: a summary each, written here
for the ones a user calls, else the first sentence of its own docstring.
"""

from __future__ import annotations

import ast
import textwrap

WIDTH = 88
NAME_COLUMN = 22  # a longer name pushes its summary along

USAGE = {
    "keras": """\
    import model as spec                           # this file, saved as model.py
    net = spec.compile_model(spec.build_model())
    history = spec.fit(net, x, y, epochs=2)        # NumPy arrays
    y_pred = spec.predict(net, x)
    spec.inference_model(net).save("net.keras")    # keras.models.load_model reads it""",
    "torch": """\
    import model as spec                           # this file, saved as model.py
    net = spec.prepare(spec.build_model(), "cpu")  # or "cuda"
    history = spec.fit(net, x, y, epochs=2)        # NumPy arrays, lists or tensors
    print(spec.evaluate(net, x, y))                # mean loss and metrics, by name
    y_pred = spec.predict(net, x)                  # a tensor (a tuple: several outputs)""",
}

# What the functions a user calls do, in a few words; the others' docstrings say it.
SUMMARIES = {
    "keras": {
        "build_model": "The network (a keras.Model), uncompiled.",
        "build_loss": "The spec's loss (by output name, for several outputs).",
        "build_optimizer": "The spec's optimizer.",
        "build_metrics": "The spec's metrics (by output name, for several outputs).",
        "compile_model": "Attaches the optimizer, loss and metrics to the network.",
        "build_callbacks": "The spec's learning-rate schedule and early stopping.",
        "fit": "Trains a compiled network as the spec says.",
        "evaluate": "Mean loss and metrics of a compiled network.",
        "predict": "The network's outputs.",
        "inference_model": "The trained network as plain Keras loads it (no netspec).",
        "NetspecSGD": "SGD as netspec and PyTorch compute it, a Keras optimizer.",
        "NetspecAdam": "Adam as netspec and PyTorch compute it, a Keras optimizer.",
        "NetspecRMSprop": "RMSprop as netspec and PyTorch compute it, a Keras optimizer.",
        "NetspecAdagrad": "Adagrad as netspec and PyTorch compute it, a Keras optimizer.",
        "PositionalEmbedding": "Adds a learned vector per position, a Keras layer.",
    },
    "torch": {
        "build_model": "The network (an nn.Module), initialised as the spec says.",
        "build_loss": "The spec's loss, called as loss(y_pred, y_true).",
        "build_optimizer": "The spec's optimizer of the network's parameters.",
        "build_metrics": "The spec's metrics, functions of (y_pred, y_true).",
        "build_scheduler": "The spec's learning-rate schedule, stepped once per epoch.",
        "prepare": "Moves the network to a device, as it trains best there.",
        "fit": "Trains the network as the spec says; returns the history.",
        "evaluate": "Mean loss and metrics, in inference mode.",
        "predict": "The network's outputs, in inference mode.",
        "memory_tensors": "Arrays or lists as tensors of the dtypes the network takes.",
    },
}


def _first_sentence(node: ast.FunctionDef | ast.ClassDef) -> str:
    doc = ast.get_docstring(node) or ""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph[: end + 1] if end >= 0 else paragraph


def _fit(summary: str, room: int) -> str:
    """The summary, else its first clause, else its first words, in `room` characters."""
    if len(summary) <= room:
        return summary
    cuts = [summary.find(mark) for mark in (": ", "; ")]
    fitting = [cut for cut in cuts if 12 <= cut <= room]
    if fitting:
        return summary[: min(fitting)]
    return textwrap.shorten(summary, room, placeholder=" …")


def public_names(source: str) -> list[tuple[str, str]]:
    """(name, first sentence of its docstring) of each public top-level function and class."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            found.append((node.name, _first_sentence(node)))
    return found


def contents(source: str, target: str) -> str:
    """A line per public function and class of `source`: its name and a summary."""
    lines = []
    for name, sentence in public_names(source):
        column = max(NAME_COLUMN, len(name) + 2)
        summary = SUMMARIES[target].get(name) or _fit(sentence, WIDTH - 4 - column)
        if "\\" in summary or '"""' in summary:  # never in netspec's docstrings; kept out anyway
            summary = ""
        lines.append(f"    {name.ljust(column)}{summary}".rstrip())
    return "\n".join(lines)


def module_docstring(intro: str, source: str, target: str) -> str:
    """The module docstring: `intro`, the usage example, then the contents of `source`."""
    paragraphs = [textwrap.fill(paragraph, WIDTH) for paragraph in intro.split("\n\n")]
    return (
        "\n\n".join(paragraphs) + "\n\n"
        "Usage, with NumPy arrays x and y (for several inputs or outputs, dicts of them by\n"
        "input and output name):\n\n"
        f"{USAGE[target]}\n\n"
        f"Contents:\n\n{contents(source, target)}"
    )
