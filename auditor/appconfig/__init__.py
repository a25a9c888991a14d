"""Readers of app mail settings (.env.production, YAML, INI, …) into one `SmtpSettings` model."""
