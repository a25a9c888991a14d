"""What a fix works with: the proposed changes, the facts, and the registry of named fixes.

A named fix (`@register("spf.merge")`) gets the `FixContext` and one failed finding. It either proposes a
change at once (`ctx.add_record`, `ctx.add_setting`) or, when several findings may want to rewrite the same
record, adds its wish to a shared *plan* (`ctx.plan(key, factory)`); plans are finished after every fix ran,
so one final record fixes everything at once and is linked from each finding that asked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from auditor.fixes.spf_edit import LookupLog

FixFunction = Callable[["FixContext", Any], None]
REGISTRY: dict[str, FixFunction] = {}


def register(name: str) -> Callable[[FixFunction], FixFunction]:
    """Make a function the fix a rule names with `fix: <name>`."""

    def decorate(function: FixFunction) -> FixFunction:
        if name in REGISTRY and REGISTRY[name] is not function:
            raise ValueError(f"fix {name!r} is registered twice")
        REGISTRY[name] = function
        return function

    return decorate


def fix_names() -> list[str]:
    return sorted(REGISTRY)


# -- proposed changes ----------------------------------------------------------------------------------------


@dataclass
class RecordChange:
    action: str  # add | replace | remove
    name: str  # absolute, trailing dot
    type: str
    value: str  # TXT: the logical string; for remove: the record removed
    current: str | None = None  # the value replaced or removed
    placeholder: bool = False
    note: str = ""
    where: str | None = None  # for placeholders: where the account-specific values are found

    def __post_init__(self) -> None:
        self.name = absolute(self.name)
        self.type = self.type.upper()

    @property
    def key(self) -> tuple:
        return (self.action, self.name, self.type, self.value, self.current)

    def to_json(self, id: str) -> dict[str, Any]:
        return {
            "id": id,
            "action": self.action,
            "name": self.name,
            "type": self.type,
            "value": self.value,
            "current": self.current,
            "placeholder": self.placeholder,
            "note": self.note,
            "where": self.where,
        }


@dataclass
class SettingChange:
    file: str | None
    key: str
    value: str
    current: str | None = None  # never a secret: see `FixContext.add_setting`
    note: str = ""
    placeholder: bool = False  # the value is a description (<…>), not the literal line

    def to_json(self, id: str) -> dict[str, Any]:
        return {
            "id": id,
            "file": self.file,
            "key": self.key,
            "value": self.value,
            "current": self.current,
            "placeholder": self.placeholder,
            "note": self.note,
        }


def absolute(name: str) -> str:
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."


class Plan(Protocol):
    def finish(self, ctx: FixContext) -> None: ...


@dataclass
class FixContext:
    result: Any  # auditor.audit.AuditResult
    smtp_settings: Any = None  # auditor.appconfig.model.SmtpSettings, when the audit read the app's settings
    records: list[tuple[str, RecordChange]] = field(default_factory=list)
    settings: list[tuple[str, SettingChange]] = field(default_factory=list)
    plans: dict[str, Plan] = field(default_factory=dict)
    _provider: Any = None
    _provider_loaded: bool = False
    _log: LookupLog | None = None

    def __post_init__(self) -> None:
        if self.smtp_settings is None:
            self.smtp_settings = getattr(self.target, "settings", None)

    @property
    def facts(self) -> Any:
        return self.result.facts

    @property
    def target(self) -> Any:
        return self.result.target

    @property
    def log(self) -> LookupLog:
        """The audit's DNS answers, for the values records resolved to (never a new query)."""
        if self._log is None:
            self._log = LookupLog(self.facts.dns.lookups)
        return self._log

    @property
    def provider(self) -> Any:
        """The relay's provider profile when the target names one (None otherwise, or when it is not known)."""
        if not self._provider_loaded:
            self._provider_loaded = True
            self._provider = getattr(self.target, "provider", None)
            provider_id = getattr(self.target, "provider_id", None)
            if self._provider is None and provider_id:
                from auditor.errors import AuditorError
                from auditor.providers import get_provider

                try:
                    self._provider = get_provider(provider_id)
                except AuditorError:
                    self._provider = None
        return self._provider

    def provider_values(self) -> dict[str, str]:
        """Template values for the provider's records: the From domain, the region when known."""
        known = getattr(self.target, "provider_values", None) or {}
        values = {k: str(v) for k, v in known.items() if v}
        values["domain"] = self.target.from_domain.rstrip(".")
        region = getattr(self.target, "provider_region", None)
        if region:
            values["region"] = region
        return values

    # -- proposing -----------------------------------------------------------------------------------------

    def add_record(self, finding: Any, change: RecordChange) -> str:
        """Propose a DNS change for `finding`; the same change proposed twice gets one id, linked from both."""
        for id, existing in self.records:
            if existing.key == change.key:
                if change.note and change.note not in existing.note:
                    existing.note = f"{existing.note} {change.note}".strip()
                self.link(finding, id)
                return id
        id = f"r{len(self.records) + 1}"
        self.records.append((id, change))
        self.link(finding, id)
        return id

    def add_setting(self, finding: Any, change: SettingChange) -> str:
        """Propose a settings line. A secret never leaves: a current value that is a secret becomes null."""
        secrets = set(self.smtp_settings.secrets()) if self.smtp_settings is not None else set()
        if change.value in secrets:
            raise ValueError("a proposed setting must never carry a secret value")
        if change.current is not None and (change.current in secrets or is_secret_key(change.key)):
            change.current = None
        for id, existing in self.settings:
            if (existing.file, existing.key, existing.value) == (change.file, change.key, change.value):
                self.link(finding, id)
                return id
        id = f"s{len(self.settings) + 1}"
        self.settings.append((id, change))
        self.link(finding, id)
        return id

    @staticmethod
    def link(finding: Any, id: str) -> None:
        if finding is not None and id not in finding.fixes:
            finding.fixes.append(id)

    def plan(self, key: str, factory: Callable[[], Plan]) -> Any:
        if key not in self.plans:
            self.plans[key] = factory()
        return self.plans[key]

    def finish_plans(self) -> None:
        """Finish every plan; a plan may open another (an SPF edit in a record the root includes)."""
        done: set[str] = set()
        while True:
            pending = [key for key in self.plans if key not in done]
            if not pending:
                return
            for key in pending:
                done.add(key)
                self.plans[key].finish(self)


SECRET_WORDS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE")


def is_secret_key(key: str) -> bool:
    upper = key.upper()
    return any(word in upper for word in SECRET_WORDS)


def explain(finding: Any, text: str) -> None:
    """Say plainly, in the finding's action, what the fixes could not do (no record is better than a broken one)."""
    if text and text not in finding.action:
        finding.action = f"{finding.action.rstrip()} {text}".strip()
