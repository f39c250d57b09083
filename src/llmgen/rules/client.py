"""The spec's `client:` section against what each engine's OpenAI-compatible API accepts.

The spec's own bounds are the OpenAI API's documented ranges; this module adds each engine's
narrower limits, declared by each adapter (`client_limits`). llama.cpp and vLLM accept the whole OpenAI range (proven by verify against the
real engines, tests/rules/test_client_section.py); TGI 3.3.7's router is narrower (its source is cited
there, router/src/validation.rs and router/src/lib.rs).
"""

from __future__ import annotations

from llmgen.engines.base import Engine
from llmgen.errors import Diagnostic, error
from llmgen.spec.models import Spec


def client_checks(spec: Spec, engine: Engine) -> list[Diagnostic]:
    """Errors for client values the engine would refuse on every request."""
    client = spec.client
    found: list[Diagnostic] = []
    context = spec.runtime.context_length
    if client.max_tokens is not None and client.max_tokens >= context:
        found.append(
            error(
                "client.max_tokens",
                f"{client.max_tokens} leaves no room for the prompt in runtime.context_length "
                f"({context}): the engine refuses such requests",
                f"set client.max_tokens below {context}",
            )
        )
    for limit in engine.client_limits:
        value = getattr(client, limit.field)
        if value is not None and limit.refuses(value):
            found.append(error(f"client.{limit.field}", limit.message, limit.fix))
    return found
