"""Use cases. Each public method is one transaction and one audit entry per mutation."""


def validation():
    """The Pydantic models, loaded on first use: Pydantic costs ~100 ms to import and only
    writes need it, so the TUI starts without it."""
    from domain import validation as module

    return module
