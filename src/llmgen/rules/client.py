"""The spec's `client:` section against what each engine's OpenAI-compatible API accepts.

The spec's own bounds are the OpenAI API's documented ranges; this module adds each engine's
narrower limits. llama.cpp and vLLM accept the whole OpenAI range (proven by verify against the
real engines, tests/rules/test_client_section.py); TGI 3.3.7's router is narrower (its source is cited
there, router/src/validation.rs and router/src/lib.rs).
"""

from __future__ import annotations

from llmgen.errors import Diagnostic, error
from llmgen.spec.models import Spec


def client_checks(spec: Spec) -> list[Diagnostic]:
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
    if spec.engine == "tgi":
        found += _tgi_checks(spec)
    return found


def _tgi_checks(spec: Spec) -> list[Diagnostic]:
    client = spec.client
    found: list[Diagnostic] = []
    # router/src/validation.rs: `top_p must be > 0.0 and < 1.0`; 1.0 is only its default.
    if client.top_p is not None and client.top_p >= 1:
        found.append(
            error(
                "client.top_p",
                "TGI refuses top_p 1.0 (it must be below 1; leaving it out means 1.0)",
                "remove client.top_p, or set it below 1, e.g. 0.95",
            )
        )
    # router/src/lib.rs: presence_penalty becomes repetition_penalty = presence_penalty + 2,
    # and router/src/validation.rs refuses a repetition_penalty <= 0.
    if client.presence_penalty is not None and client.presence_penalty <= -2:
        found.append(
            error(
                "client.presence_penalty",
                "TGI refuses presence_penalty -2 (it adds 2 and needs a positive result)",
                "set client.presence_penalty above -2",
            )
        )
    return found
