"""Readers of app mail settings (.env.production, YAML, INI, hjson, …) into one `SmtpSettings` model.

    from auditor.appconfig import load_settings, list_apps, AppProfile
    settings = load_settings(".env.production")            # the app is recognised
    settings = load_settings("production.yaml", app="peertube")

App knowledge lives in `rules/apps/<id>.yaml`; this package is the generic machinery.
"""

from __future__ import annotations

from auditor.appconfig.loader import load_settings
from auditor.appconfig.model import SettingSource, SmtpSettings
from auditor.appconfig.profiles import AppProfile, find_app, list_apps

__all__ = ["AppProfile", "SettingSource", "SmtpSettings", "find_app", "list_apps", "load_settings"]
