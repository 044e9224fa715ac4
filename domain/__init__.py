"""The facts about SLA credits and the rules that turn them into amounts (pure, no I/O)."""
