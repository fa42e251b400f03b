"""The bank contract (tests/contract/test_bank_contract.py), run again on sqlite3 stores behind the
read cache: memory and Redis. Its tests and fixtures are taken as they are; only `store_url` and `store`
are this module's (tests/integration/cache_helpers.py), so every read goes through the cache."""

from __future__ import annotations

import tests.contract.test_bank_contract as _contract
from tests.integration import cache_helpers

globals().update({name: value for name, value in vars(_contract).items()
                  if name.startswith("test_") or hasattr(value, "_pytestfixturefunction")
                  or type(value).__name__ == "FixtureFunctionDefinition"})

store_url = cache_helpers.store_url  # these two fixtures override tests/conftest.py's in this module
store = cache_helpers.store
