"""The spec's `client:` section against what each engine's OpenAI-compatible API accepts.

The spec's own bounds are the OpenAI API's documented ranges; this module adds each engine's
narrower limits, declared by each adapter (`client_limits`). llama.cpp and vLLM accept the
whole OpenAI range (proven by verify against the real engines, tests/rules/test_client_section.py);
TGI's router is narrower in every known release (its source is cited there, router/src/validation.rs and
router/src/lib.rs; per release in tests/oracle/test_tgi_rules_per_release.py).
"""

from __future__ import annotations

from llmgen.errors import Diagnostic, error
from llmgen.rules.declare import Context, rule


@rule(
    "client.max_tokens",
    "error",
    "client.max_tokens that leaves no room for the prompt in runtime.context_length",
    "set client.max_tokens below runtime.context_length",
    when=lambda c: c.spec.client.max_tokens is not None,
)
def max_tokens(c: Context) -> list[Diagnostic]:
    asked, context = c.spec.client.max_tokens, c.spec.runtime.context_length
    if asked is None or asked < context:
        return []
    return [
        error(
            "client.max_tokens",
            f"{asked} leaves no room for the prompt in runtime.context_length "
            f"({context}): the engine refuses such requests",
            f"set client.max_tokens below {context}",
        )
    ]


@rule(
    "client.engine_limits",
    "error",
    "a client value the engine's API refuses on every request (TGI: top_p 1.0, "
    "presence_penalty -2 or lower)",
    "the diagnostic names the engine's bound",
    when=lambda c: bool(c.engine.client_limits),
)
def engine_limits(c: Context) -> list[Diagnostic]:
    found = []
    for limit in c.engine.client_limits:
        value = getattr(c.spec.client, limit.field)
        if value is not None and limit.refuses(value):
            found.append(error(f"client.{limit.field}", limit.message, limit.fix))
    return found
