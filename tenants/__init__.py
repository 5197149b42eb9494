"""Partners (tenants), their service catalogues, opening hours and agreements."""
