#!/usr/bin/env python3
"""Writes the strict, standalone JSON schemas kubeconform checks the chart with.

The source is the Kubernetes OpenAPI v2 document shipped in the Go module
k8s.io/cli-runtime (artifacts/openapi/swagger.json), so the schemas come from
the module proxy like the tools and the check needs no network:

    cd tools/helm && go mod download k8s.io/cli-runtime
    python3 deploy/helm/schemas/generate.py "$(cd tools/helm && go list -m -f '{{.Dir}}' k8s.io/cli-runtime)/artifacts/openapi/swagger.json"

Strict means what kubeconform's -strict expects of a schema: an object with
declared properties admits no others, so a misspelt field fails.
"""
import json
import os
import sys

KINDS = {
    "io.k8s.api.apps.v1.Deployment": "deployment-apps-v1",
    "io.k8s.api.core.v1.Service": "service-v1",
    "io.k8s.api.policy.v1.PodDisruptionBudget": "poddisruptionbudget-policy-v1",
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler": "horizontalpodautoscaler-autoscaling-v2",
}


def expand(node, defs, seen):
    if isinstance(node, list):
        return [expand(n, defs, seen) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:  # a recursive type: leave the inner level open
            return {}
        if name == "io.k8s.apimachinery.pkg.api.resource.Quantity":
            # "1", 1 and "500m" are all quantities; the OpenAPI says string only.
            return {"oneOf": [{"type": "string"}, {"type": "number"}]}
        return expand(defs[name], defs, seen | {name})
    out = {}
    for k, v in node.items():
        if k.startswith("x-kubernetes") or k == "description":
            continue
        out[k] = expand(v, defs, seen) if k in ("properties", "items", "additionalProperties", "allOf", "oneOf", "anyOf") or isinstance(v, (dict, list)) else v
    if out.get("format") == "int-or-string":
        return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    if "properties" in out:
        out["properties"] = {k: expand(v, defs, seen) for k, v in node["properties"].items()}
        out.setdefault("additionalProperties", False)
    return out


def main():
    spec = json.load(open(sys.argv[1]))
    defs = spec["definitions"]
    here = os.path.dirname(os.path.abspath(__file__))
    for name, file in KINDS.items():
        schema = expand(defs[name], defs, {name})
        schema["$schema"] = "http://json-schema.org/schema#"
        with open(os.path.join(here, file + ".json"), "w") as f:
            json.dump(schema, f, indent=1, sort_keys=True)
            f.write("\n")


main()
