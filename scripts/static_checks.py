"""`make static`: ruff, bandit, mypy and a dependency audit, each timed; exit 1 if any fails.

Run with the project's venv Python (the Makefile does). What each gate means and why it is set
where it is: docs/security.md, "Static checks".

The dependency audit is pip-audit against OSV, then against PyPI's per-release JSON. Where
neither answers (a machine that reaches only a PyPI mirror serving project-level JSON, as the
project's build machines do), every package would be *skipped* and pip-audit would still say
"No known vulnerabilities found". That is no audit, so this script falls back to the advisories
PyPI lists on each project's page, which are those of its latest release: a package installed
at its latest release is audited that way; the others are named as not audited. Known
vulnerabilities always fail; packages that could not be audited fail only with
STATIC_AUDIT_STRICT=1 (use it where OSV is reachable).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# Vulnerabilities accepted for now, by id: each needs a paragraph under "Dependency audit
# exceptions" in docs/security.md (what, why it does not apply or cannot be fixed, when to
# revisit). Passed to pip-audit as --ignore-vuln and honoured by the fallback.
AUDIT_IGNORE: dict[str, str] = {}

# bandit prints this for every other AST node on a line that carries `# nosec BXXX` even when
# the suppression is used (PyCQA/bandit#1041); it is noise, not a finding.
_BANDIT_NOSEC_NOISE = re.compile(r"nosec encountered \(B\d+\), but no failed test")

# mypy's Django plugin imports the settings: point them at addresses nothing listens on, so
# no embedded PostgreSQL/Redis starts and nothing connects (settings only parse the URLs).
_MYPY_ENV = {
    "DATABASE_URL": "postgres://static-checks@127.0.0.1:9/unused",
    "REDIS_URL": "redis://127.0.0.1:9/0",
}


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # nosec B603  # our own tools, fixed arguments
        args, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )


def _show(result: subprocess.CompletedProcess[str], drop: re.Pattern[str] | None = None) -> None:
    for stream, text in ((sys.stdout, result.stdout), (sys.stderr, result.stderr)):
        lines = [ln for ln in text.splitlines() if not (drop and drop.search(ln))]
        if lines:
            print("\n".join(lines), file=stream)


def check_ruff() -> bool:
    result = _run([str(BIN / "ruff"), "check", "."])
    _show(result)
    return result.returncode == 0


def check_bandit() -> bool:
    # Medium and high severity fail (any confidence); low findings are left to review.
    args = ["-c", "pyproject.toml", "-r", "apps", "config", "-q", "--severity-level", "medium"]
    result = _run([str(BIN / "bandit"), *args])
    _show(result, drop=_BANDIT_NOSEC_NOISE)
    return result.returncode == 0


def check_mypy() -> bool:
    result = _run([str(BIN / "mypy")], env=_MYPY_ENV)  # files and strictness: pyproject.toml
    _show(result)
    return result.returncode == 0


# --- dependency audit -------------------------------------------------------------------------


def _installed() -> dict[str, str]:
    """Canonical name -> version of every installed distribution but our own (editable)."""
    found = {}
    for dist in metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if name != "breakwater":
            found[name] = dist.version
    return found


def _pip_audit(service: str) -> tuple[dict | None, str]:
    """pip-audit's JSON report with ``service``, or (None, why) if the service failed."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        args = [str(BIN / "pip-audit"), "--local", "--skip-editable", "--progress-spinner", "off"]
        args += ["-s", service, "--timeout", "20", "-f", "json", "-o", str(report)]
        for vuln_id in AUDIT_IGNORE:
            args += ["--ignore-vuln", vuln_id]
        result = _run(args)
        if report.exists() and report.stat().st_size:
            return json.loads(report.read_text()), ""
    last = (result.stderr.strip().splitlines() or ["no output"])[-1]
    return None, last[:300]


def _latest_release_advisories(name: str, version: str) -> tuple[list[dict], str]:
    """(vulnerabilities, "") if ``version`` is the latest release, else ([], why not audited)."""
    try:
        response = httpx.get(f"https://pypi.org/pypi/{name}/json", timeout=20)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return [], f"PyPI project data unavailable ({type(exc).__name__})"
    latest = data["info"]["version"]
    if latest != version:
        return [], f"installed {version}, PyPI lists advisories only for the latest ({latest})"
    vulns = [v for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return [{"id": v["id"], "fix_versions": v.get("fixed_in") or []} for v in vulns], ""


def _fallback_audit(installed: dict[str, str]) -> dict:
    """The same shape as pip-audit's JSON report, from the project-level PyPI data."""
    names = sorted(installed)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = pool.map(lambda n: _latest_release_advisories(n, installed[n]), names)
    deps = []
    for name, (vulns, skipped) in zip(names, answers, strict=True):
        entry: dict = {"name": name, "version": installed[name]}
        if skipped:
            entry["skip_reason"] = skipped
        else:
            entry["vulns"] = [v for v in vulns if v["id"] not in AUDIT_IGNORE]
        deps.append(entry)
    return {"dependencies": deps}


def check_audit() -> bool:
    installed = _installed()
    report, why = _pip_audit("osv")
    source = "pip-audit, OSV"
    if report is None:
        print(f"OSV unreachable ({why}); trying PyPI")
        report, why = _pip_audit("pypi")
        source = "pip-audit, PyPI"
    audited = [d for d in (report or {}).get("dependencies", []) if "skip_reason" not in d]
    if report is None or not audited:
        print(
            f"pip-audit audited nothing ({why or 'every package skipped'}); "
            "falling back to the advisories on each project's PyPI page"
        )
        report, source = _fallback_audit(installed), "PyPI project pages (latest releases)"
    deps = report["dependencies"]
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if "skip_reason" in d]
    print(
        f"{len(deps) - len(skipped)} of {len(installed)} packages audited ({source}); "
        f"{len(vulnerable)} with known vulnerabilities; {len(AUDIT_IGNORE)} ids ignored "
        "(docs/security.md)"
    )
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix released"
            print(f"  VULNERABLE {dep['name']} {dep.get('version', '')}: {vuln['id']} ({fixes})")
    if skipped:
        print(f"  not audited ({len(skipped)}):")
        for dep in skipped:
            print(f"    {dep['name']}: {dep['skip_reason']}")
    strict = os.environ.get("STATIC_AUDIT_STRICT") == "1"
    if skipped and strict:
        print("STATIC_AUDIT_STRICT=1: packages that could not be audited fail the check")
    return not vulnerable and not (skipped and strict)


CHECKS: list[tuple[str, Callable[[], bool]]] = [
    ("ruff", check_ruff),
    ("bandit", check_bandit),
    ("mypy", check_mypy),
    ("pip-audit", check_audit),
]


def main() -> int:
    timings = []
    for name, check in CHECKS:
        print(f"-- {name}", flush=True)
        started = time.monotonic()
        ok = check()
        timings.append((name, ok, time.monotonic() - started))
        sys.stdout.flush()
    print("-- static checks")
    for name, ok, seconds in timings:
        print(f"  {name:<10} {'ok' if ok else 'FAILED':<7} {seconds:6.1f} s")
    print(f"  {'total':<18} {sum(t for _, _, t in timings):6.1f} s")
    return 0 if all(ok for _, ok, _ in timings) else 1


if __name__ == "__main__":
    sys.exit(main())
