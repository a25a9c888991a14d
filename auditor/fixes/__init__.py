"""Fixes: turn failed findings into exact DNS record changes and app setting lines.

`propose_fixes(result)` runs, for every failed finding whose rule names a fix (`fix: spf.merge`), the
function registered under that name (`auditor.fixes.context.register`). The modules below each hold the
fixes of one area; importing them fills the registry. To add a fix, write a function in the module of its
area (or a new module imported here) and decorate it with `@register("<area>.<name>")`; a test checks that
every `fix:` named in rules/ is registered.

Fixes read facts only (`result.facts`, `result.target`, the lookup log in `result.facts.dns.lookups`);
they never query DNS.
"""

from __future__ import annotations

from typing import Any

from auditor.fixes import dmarc, mx, provider, spf  # noqa: F401 - importing registers the fixes
from auditor.fixes import settings as setting_fixes  # noqa: F401
from auditor.fixes.context import REGISTRY, FixContext, RecordChange, SettingChange, fix_names, register

__all__ = [
    "REGISTRY",
    "FixContext",
    "RecordChange",
    "SettingChange",
    "fix_names",
    "propose_fixes",
    "register",
]


def propose_fixes(result: Any, settings: Any = None) -> None:
    """Fill `result.records` and `result.settings` and link each failed finding to the changes that fix it.

    `settings` is the app's `SmtpSettings` when the audit read them (needed by the setting fixes).
    """
    ctx = FixContext(result=result, smtp_settings=settings)
    for finding in result.findings:
        finding.fixes = []
    for finding in result.findings:
        if finding.status != "fail" or not finding.fix:
            continue
        function = REGISTRY.get(finding.fix)
        if function is None:
            finding.render_errors.append(f"no fix named {finding.fix!r} (a bug in the rule)")
            continue
        try:
            function(ctx, finding)
        except Exception as exc:  # a bug in one fix must not cost the user the whole report
            finding.render_errors.append(f"fix {finding.fix} failed: {exc.__class__.__name__}")
    try:
        ctx.finish_plans()
    except Exception as exc:
        for finding in result.findings:
            if finding.status == "fail" and finding.fix:
                finding.render_errors.append(f"fixes could not be finished: {exc.__class__.__name__}")
    result.records = [change.to_json(id) for id, change in ctx.records]
    result.settings = [change.to_json(id) for id, change in ctx.settings]
