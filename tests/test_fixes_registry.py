"""Every `fix:` a rule names is a registered fix; the registry is the single place fixes are found."""

from __future__ import annotations

import pytest

from auditor.engine import load_rules
from auditor.fixes import REGISTRY, fix_names, register

RULES_WITH_FIX = [rule for rule in load_rules() if rule.fix]


def test_rules_name_fixes():
    assert RULES_WITH_FIX, "no rule names a fix: the registry test would prove nothing"


@pytest.mark.parametrize("rule", RULES_WITH_FIX, ids=[r.id for r in RULES_WITH_FIX])
def test_every_named_fix_is_registered(rule):
    assert rule.fix in REGISTRY, (
        f"{rule.path}: fix {rule.fix!r} is not registered; add @register({rule.fix!r}) in auditor/fixes/ "
        f"(registered: {', '.join(fix_names())})"
    )


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(ValueError):
        register("spf.merge")(lambda ctx, finding: None)
