"""One screen per area of the shop; each has a .tcss beside it."""
