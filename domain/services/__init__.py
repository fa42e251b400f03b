"""Use cases. Each public method is one transaction and one audit entry per mutation."""
