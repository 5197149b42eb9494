"""Bearer tokens with a role scoped to partners."""
