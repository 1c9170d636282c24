"""Use cases, one module per resource family; handlers keep the V2 method names."""
