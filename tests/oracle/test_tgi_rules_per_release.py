"""TGI's start-up rules release by release: each rule cited at every tag llmgen knows.

No TGI launcher can be built or run here, so the source at each release tag is the oracle
(huggingface/text-generation-inference, `git show v<release>:<path>`). For every rule llmgen
mirrors, RULES names the file and lines that hold it at v3.0.2, v3.1.1, v3.2.3 and v3.3.7, and
where a release differs, what llmgen must say there instead. Each rule's spec is a case file
under tests/cases/ (its `# expect:` line is the 3.3.7 verdict); this module validates the same
spec with `engine_version` set to each release and checks llmgen's verdict and message.

What differs between the releases (everything else reads the same at every tag, only the line
numbers move):
- `--prometheus-port` exists only in 3.3.7 (launcher/src/main.rs:776-778; the router binds it
  at router/src/server.rs:1970-1976). Up to 3.2.3 the metrics are a route of the API port
  (`.route("/metrics", get(metrics))`), so port 9000 is free and `--prometheus-port` is
  refused as a flag the release lacks.
- `-p`: in 3.3.7 both `port` and `prometheus_port` take `short` (main.rs:773 and 777); up to
  3.2.3 only `port` does, so `-p` is a second `--port`, which clap 4.5 (Cargo.lock) refuses
  to take twice: llmgen's "already set by server.port".
The table is repeated in docs/versions.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.support.oracle_common import RESULTS, Comparison, llmgen_verdict

CASES = Path(__file__).resolve().parents[1] / "cases"
RELEASES = ("3.0.2", "3.1.1", "3.2.3", "3.3.7")
L, B, R = "launcher/src/main.rs", "backends/v3/src/main.rs", "router/src/server.rs"


def _at(*per_release: str) -> dict[str, str]:
    """Citations in RELEASES order: one 'file:lines[; file:lines]' per release."""
    assert len(per_release) == len(RELEASES)
    return dict(zip(RELEASES, per_release, strict=True))


@dataclass(frozen=True)
class Rule:
    """One start-up rule: its case file, its source at each release, where a release differs."""

    case: str  # tests/cases/<invalid|warning>/<case>.yaml
    cites: dict[str, str]
    # release -> the message llmgen gives there instead of the case's `# expect:` text;
    # "" means the release accepts the spec without any error.
    differs: dict[str, str] = field(default_factory=dict)


OLDER = RELEASES[:-1]

RULES = (
    Rule(
        "tgi337-validation-workers-zero",
        _at(
            f"{L}:2104-2108; {B}:132-136",
            f"{L}:2128-2132; {B}:132-136",
            f"{L}:2159-2163; {B}:132-136",
            f"{L}:2187-2191; {B}:138-142",
        ),
    ),
    Rule(
        "tgi337-max-input-length",
        _at(f"{L}:2027-2033", f"{L}:2042-2048", f"{L}:2072-2078", f"{L}:2100-2106"),
    ),
    Rule(
        "tgi337-max-input-not-below-total",
        _at(
            f"{L}:2073-2080; {B}:176-180",
            f"{L}:2097-2104; {B}:176-180",
            f"{L}:2128-2135; {B}:176-180",
            f"{L}:2156-2163; {B}:182-186",
        ),
    ),
    Rule(
        "tgi337-batch-total-below-total",
        _at(
            f"{L}:2116-2125; {B}:188-190",
            f"{L}:2140-2149; {B}:188-190",
            f"{L}:2171-2180; {B}:188-190",
            f"{L}:2199-2208; {B}:194-196",
        ),
    ),
    Rule(
        "tgi337-prefill-above-batch-total",
        _at(f"{B}:185-187", f"{B}:185-187", f"{B}:185-187", f"{B}:191-193"),
    ),
    Rule(
        "tgi337-prefill-below-input",
        _at(f"{B}:182-184", f"{B}:182-184", f"{B}:182-184", f"{B}:188-190"),
    ),
    Rule(
        "tgi337-max-batch-size-zero",
        _at(f"{B}:137-142", f"{B}:137-142", f"{B}:137-142", f"{B}:143-148"),
    ),
    Rule(
        "tgi337-exl2-sharded",
        _at(f"{L}:2018-2023", f"{L}:2033-2038", f"{L}:2063-2068", f"{L}:2091-2096"),
    ),
    Rule(
        "tgi337-lora-two-at",
        _at(f"{L}:2169-2175", f"{L}:2193-2199", f"{L}:2224-2230", f"{L}:2252-2258"),
    ),
    Rule(
        "tgi337-ngrok",
        _at(
            f"{R}:2404-2420; {L}:2127-2139",
            f"{R}:2433-2449; {L}:2151-2163",
            f"{R}:2268-2284; {L}:2182-2194",
            f"{R}:2304-2320; {L}:2210-2222",
        ),
        # The same panic in every release; llmgen names the release the spec runs.
        {v: f"error: runtime.extra_args.0: TGI {v} cannot tunnel through ngrok" for v in OLDER},
    ),
    Rule(
        "tgi337-num-shard-vs-gpus",
        _at(f"{L}:1342", f"{L}:1343", f"{L}:1369", f"{L}:1404"),
    ),
    Rule(
        "tgi337-num-shard-zero",
        _at(
            f"{L}:1342,1344-1348",
            f"{L}:1343,1345-1349",
            f"{L}:1369,1371-1375",
            f"{L}:1404,1406-1410",
        ),
    ),
    Rule(
        "tgi337-sharded-one-shard",
        _at(
            f"{L}:1330-1338,1318-1328",
            f"{L}:1331-1339,1319-1329",
            f"{L}:1357-1365,1345-1355",
            f"{L}:1392-1400,1380-1390",
        ),
    ),
    Rule(
        "tgi337-dtype-float32",
        _at(
            f"{L}:461-466,600-603",
            f"{L}:462-467,601-604",
            f"{L}:478-483,617-620",
            f"{L}:489-494,628-631",
        ),
    ),
    Rule(
        "tgi337-dtype-quantize",
        _at(
            f"server/text_generation_server/cli.py:110-118; {L}:600-603",
            f"server/text_generation_server/cli.py:110-118; {L}:601-604",
            f"server/text_generation_server/cli.py:110-118; {L}:617-620",
            f"server/text_generation_server/cli.py:110-118; {L}:628-631",
        ),
    ),
    Rule(
        "tgi337-kv-cache-dtype-value",
        _at(
            f"{L}:608-609,483-489",
            f"{L}:609-610,484-490",
            f"{L}:625-626,500-506",
            f"{L}:636-637,511-517",
        ),
    ),
    Rule(
        "tgi337-quantize-value",
        _at(
            f"{L}:590-592,379-422",
            f"{L}:591-593,380-423",
            f"{L}:607-609,396-439",
            f"{L}:618-620,407-450",
        ),
    ),
    # Differs: only 3.3.7 has --prometheus-port; before, /metrics is a route of the API port.
    Rule(
        "tgi337-port-prometheus-default",
        _at(
            f"{R}:2344 (no prometheus_port in {L})",
            f"{R}:2373 (no prometheus_port in {L})",
            f"{R}:2208 (no prometheus_port in {L})",
            f"{L}:776-778,1866-1867; {R}:1970-1976,1989-1991",
        ),
        dict.fromkeys(OLDER, ""),
    ),
    Rule(
        "tgi337-prometheus-port-equal",
        _at(
            f"{R}:2344 (no prometheus_port in {L})",
            f"{R}:2373 (no prometheus_port in {L})",
            f"{R}:2208 (no prometheus_port in {L})",
            f"{L}:776-778; {R}:1970-1976",
        ),
        dict.fromkeys(
            OLDER,
            "error: runtime.extra_args.0: '--prometheus-port' was added after TGI 3.2.3",
        ),
    ),
    # Differs: `-p` is --port's alone up to 3.2.3, shared with --prometheus-port in 3.3.7.
    Rule(
        "tgi-dash-p",
        _at(f"{L}:745-746", f"{L}:746-747", f"{L}:762-763", f"{L}:773-774,777-778"),
        dict.fromkeys(OLDER, "error: runtime.extra_args.0: '-p' is already set by server.port"),
    ),
)

CITE = re.compile(r"^[\w/.-]+\.(rs|py):\d+")


def _case_file(name: str) -> Path:
    found = sorted(CASES.glob(f"*/{name}.yaml"))
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def _expected(rule: Rule, release: str) -> str:
    if release in rule.differs:
        return rule.differs[release]
    first = _case_file(rule.case).read_text("utf-8").splitlines()[0]
    # The case's expectation without its line:column (the spec is re-serialised here).
    return re.sub(r"^\d+:\d+: ", "", first.removeprefix("# expect: "))


def test_every_tgi_rule_case_is_cited_per_release() -> None:
    cased = {p.stem for p in CASES.glob("*/tgi337-*.yaml")}
    assert cased <= {rule.case for rule in RULES}, cased - {rule.case for rule in RULES}


@pytest.mark.parametrize("rule", RULES, ids=[r.case for r in RULES])
def test_the_rule_cites_a_line_at_every_release(rule: Rule) -> None:
    assert tuple(rule.cites) == RELEASES
    for release, cite in rule.cites.items():
        for part in cite.split("; "):
            assert CITE.match(part), f"{rule.case} at {release}: {part!r} is no file:line"
    assert set(rule.differs) <= set(RELEASES)


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("rule", RULES, ids=[r.case for r in RULES])
def test_llmgen_applies_the_rule_of_each_release(rule: Rule, release: str) -> None:
    path = _case_file(rule.case)
    data = yaml.safe_load(path.read_text("utf-8"))
    data["engine_version"] = release
    said = llmgen_verdict(data)
    expected = _expected(rule, release)
    if expected:
        oracle = "refuse" if path.parent.name == "invalid" else "accept"
        severity, _, text = expected.partition(": ")
        lines = said.errors if severity == "error" else said.warnings
        named = any(f"{severity}: {text}" in line for line in lines)
    else:
        oracle, named = "accept", not said.errors
    agree = said.verdict == oracle and named
    RESULTS.append(
        Comparison(
            f"TGI {release} (source)",
            rule.case,
            said.verdict,
            oracle,
            "agree" if agree else "disagree",
            f"{rule.cites[release]}: expected {expected or 'acceptance'!r}; llmgen {said.text}",
        )
    )
    assert said.verdict == oracle, said.text
    assert named, f"expected {expected!r}; got {said.text}"


# The router's sampling limits llmgen checks in the client section (llmgen.engines.tgi
# client_limits): router/src/validation.rs refuses top_p outside (0, 1) and a
# repetition_penalty <= 0, and router/src/lib.rs makes presence_penalty + 2 the
# repetition_penalty. The same at every release.
V, LIB = "router/src/validation.rs", "router/src/lib.rs"
CLIENT_LIMITS = (
    (
        "top_p",
        1.0,
        "TGI refuses top_p 1.0",
        _at(f"{V}:249-255", f"{V}:255-261", f"{V}:256-262", f"{V}:258-264"),
    ),
    (
        "presence_penalty",
        -2.0,
        "TGI refuses presence_penalty -2",
        _at(
            f"{LIB}:937; {V}:237-240",
            f"{LIB}:942; {V}:243-246",
            f"{LIB}:941; {V}:244-247",
            f"{LIB}:960; {V}:246-249",
        ),
    ),
)


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize(
    ("key", "value", "message", "cites"), CLIENT_LIMITS, ids=[c[0] for c in CLIENT_LIMITS]
)
def test_the_router_limits_hold_at_each_release(
    key: str, value: float, message: str, cites: dict[str, str], release: str
) -> None:
    for part in cites[release].split("; "):
        assert CITE.match(part), part
    data = {
        "name": "demo",
        "engine": "tgi",
        "engine_version": release,
        "model": {"id": "org/model"},
        "runtime": {"gpus": 1},
        "client": {key: value},
    }
    said = llmgen_verdict(data)
    assert said.verdict == "refuse", said.text
    assert any(f"error: client.{key}: {message}" in line for line in said.errors), said.text


# The struct Args side of the citations, checked against the excerpts of each tag's
# launcher/src/main.rs kept byte for byte in scripts/flag_tables/tgi_sources/ (the flag
# tables are parsed from them): the cited lines hold what the rule reads.
EXCERPTS = Path(__file__).resolve().parents[2] / "scripts" / "flag_tables" / "tgi_sources"
ARGS_ANCHORS: dict[str, tuple[str, ...]] = {
    "tgi337-dtype-float32": ("enum Dtype", "dtype: Option<Dtype>"),
    "tgi337-dtype-quantize": ("dtype: Option<Dtype>",),
    "tgi337-kv-cache-dtype-value": ("enum KVCacheDtype", "kv_cache_dtype: Option<KVCacheDtype>"),
    "tgi337-quantize-value": ("enum Quantization", "quantize: Option<Quantization>"),
    "tgi-dash-p": ("long, short, env)]", "port: u16"),
}


def _excerpt(release: str) -> dict[int, str]:
    """Line number in the tag's launcher/src/main.rs -> its text, for the excerpted lines."""
    lines: dict[int, str] = {}
    number = 0
    text = (EXCERPTS / f"v{release}-launcher-main.rs").read_text("utf-8")
    for line in text.splitlines():
        if header := re.fullmatch(r"// launcher/src/main.rs:(\d+)-\d+", line):
            number = int(header.group(1))
        elif number:
            lines[number] = line
            number += 1
    return lines


def _launcher_lines(cite: str) -> list[int]:
    """The launcher/src/main.rs lines a citation names ('L:1,3-5')."""
    found: list[int] = []
    for part in cite.split("; "):
        if not part.startswith(f"{L}:"):
            continue
        for span in part.removeprefix(f"{L}:").split(" ")[0].split(","):
            first, _, last = span.partition("-")
            found += range(int(first), int(last or first) + 1)
    return found


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("rule", [r for r in RULES if r.case in ARGS_ANCHORS], ids=lambda r: r.case)
def test_the_args_citations_hold_in_the_kept_source(rule: Rule, release: str) -> None:
    source = _excerpt(release)
    cited = "\n".join(source.get(n, "") for n in _launcher_lines(rule.cites[release]))
    for anchor in ARGS_ANCHORS[rule.case]:
        assert anchor in cited, f"{rule.case} at {release}: {anchor!r} not at {rule.cites[release]}"


@pytest.mark.parametrize("release", RELEASES)
def test_only_3_3_7_has_a_prometheus_port_and_gives_it_dash_p(release: str) -> None:
    source = _excerpt(release)
    prometheus = [n for n, line in source.items() if "prometheus_port: u16" in line]
    if release == "3.3.7":
        assert prometheus == [778]
        assert "long, short, env" in source[777]  # and `port` keeps its short too (773)
        assert "long, short, env" in source[773]
    else:
        assert prometheus == []
