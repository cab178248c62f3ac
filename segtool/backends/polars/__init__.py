"""The polars backend: compiles the rule tree into lazy queries."""
