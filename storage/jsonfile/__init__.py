"""The JSON-file key-value store (`jsonfile:///path.json`): the memory store, saved whole to one file."""

from storage.jsonfile.store import JsonFileStore

__all__ = ["JsonFileStore"]
