"""Object semantics: schemas, defaults, validation, managed fields, patches, selectors, GC."""
