"""Save files of the whole game: one Pydantic schema, three codecs (JSON, YAML, signed pickle),
a header with checksum, upgraders from older format versions, and slots on disk."""
