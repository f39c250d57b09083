"""`llmgen verify`: launch a rendered deployment, wait until it is ready, prove that it answers,
and tear it down.

Modules: `process` (process-group launch, teardown, peak memory), `readiness` (each engine's
readiness contract), `http` (a stdlib HTTP client), `checks` (the probes), `runner` (the
orchestration, returning a `VerifyResult`) and `report` (text and JSON). Nothing here prints
or exits; the CLI does.
"""
