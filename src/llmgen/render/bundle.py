"""Render a validated spec into the files of a deployment: pure and deterministic."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import TYPE_CHECKING

from llmgen.engines import engine_of
from llmgen.engines.base import LaunchPlan
from llmgen.records import record
from llmgen.render import quoting
from llmgen.render.client import (
    client_context,
    javascript_literal,
    python_literal,
    shell_literal,
)
from llmgen.render.targets import MANIFEST, TARGETS
from llmgen.spec.models import Spec
from llmgen.version import __version__

if TYPE_CHECKING:
    import jinja2

    from llmgen.render.multinode import MultiNode


@record
class Bundle:
    """The rendered deployment: relative path -> text, plus what produced it."""

    files: dict[str, str]
    plan: LaunchPlan


def make_environment() -> jinja2.Environment:
    """The one jinja environment: strict undefined, no autoescape, every filter registered."""
    import jinja2

    from llmgen.render.templates_dir import templates_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        sh=quoting.shell_word,
        systemd=quoting.systemd_word,
        systemd_env=lambda pair: quoting.systemd_assignment(pair[0], pair[1]),
        json=quoting.json_string,
        python=quoting.python_string,
        yaml=quoting.yaml_string,
        compose=quoting.compose_string,
        k8s=quoting.kubernetes_string,
        dockerfile_env=quoting.dockerfile_env_value,
        arg_lines=quoting.group_flag_values,
        py_value=python_literal,
        js_value=javascript_literal,
        sh_value=shell_literal,
    )
    return env


@functools.cache
def _shared_environment() -> jinja2.Environment:
    # Compiling the templates costs ~40 ms; one process renders many specs (validate of many
    # files, verify, the test suite), and the environment is never changed after creation.
    # Across processes, compiled templates come from a per-user cache (template_cache.py).
    from llmgen.render.template_cache import bytecode_cache

    env = make_environment()
    env.bytecode_cache = bytecode_cache()
    return env


def spec_digest(spec: Spec) -> str:
    """sha256 of the spec's canonical JSON (comments and key order do not matter)."""
    canonical = json.dumps(spec.model_dump(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def render(spec: Spec, plan: LaunchPlan | None = None) -> Bundle:
    """Render every target for `spec` (with its plan, if validation made one already)."""
    if plan is None:
        plan = engine_of(spec).plan(spec)
    env = _shared_environment()
    from llmgen.render.kube import kube_plan

    multinode = _multinode_plan(spec, plan)
    context = {
        "spec": spec,
        "plan": plan,
        "client": client_context(spec),
        "llmgen_version": __version__,
        "kube": kube_plan(spec, plan, multinode),
        "multinode": multinode,
    }
    files: dict[str, str] = {}
    for outputs in TARGETS.values():
        for output in outputs:
            path = output.path.format(name=spec.name)
            files[path] = env.get_template(output.template).render(context)
    if multinode is not None:
        from llmgen.render.multinode import multinode_files

        files.update(multinode_files(env, context))
    files[MANIFEST] = _manifest(spec, plan, files)
    return Bundle(dict(sorted(files.items())), plan)


def _multinode_plan(spec: Spec, plan: LaunchPlan) -> MultiNode | None:
    # The multi-node module (its recipes and records, about 1 % of a render) is imported only
    # for a spec that spans nodes.
    if spec.deploy.nodes == 1:
        return None
    from llmgen.render.multinode import multinode_plan

    return multinode_plan(spec, engine_of(spec), plan)


def _manifest(spec: Spec, plan: LaunchPlan, files: dict[str, str]) -> str:
    manifest = {
        "llmgen_version": __version__,
        "spec_sha256": spec_digest(spec),
        "name": spec.name,
        "engine": plan.engine,
        "engine_version": plan.engine_version,
        "image": plan.image,
        "served_model_name": plan.served_name,
        "base_url": plan.base_url,
        "health_path": plan.health_path,
        "readiness": plan.readiness,
        "api_key_env": plan.api_key_env,
        "files": {
            path: hashlib.sha256(text.encode()).hexdigest() for path, text in sorted(files.items())
        },
    }
    return json.dumps(manifest, indent=2, sort_keys=False) + "\n"
