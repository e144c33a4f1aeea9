"""The JSON Schema of the checked IR, with each catalogue entry's parameters spelled out."""

from __future__ import annotations

from typing import Any

from netspec import catalogue, ir

_PARAM_SLOTS = {
    "Layer": "layer",
    "Loss": "loss",
    "Optimizer": "optimizer",
    "DataSource": "data",
    "Schedule": "schedule",
}


def ir_json_schema() -> dict[str, Any]:
    """`ir.Model`'s schema where `params` lists the parameter models the catalogue allows."""
    schema = ir.Model.model_json_schema(ref_template="#/$defs/{model}")
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    used: set[str] = set()
    for node, family in _PARAM_SLOTS.items():
        refs = []
        for entry in catalogue.entries(family):
            params_schema = entry.Params.model_json_schema(ref_template="#/$defs/{model}")
            defs.update(params_schema.pop("$defs", {}))
            name = entry.Params.__name__
            defs[name] = params_schema
            used.add(name)
            ref = {"$ref": f"#/$defs/{name}"}
            if ref not in refs:
                refs.append(ref)
        defs[node]["properties"]["params"] = {
            "anyOf": refs,
            "description": f"the {family}'s parameters, every default written out",
        }
    if "Params" not in used:  # an entry without parameters (Flatten) refers to the base
        defs.pop("Params", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "netspec checked IR"
    return schema
