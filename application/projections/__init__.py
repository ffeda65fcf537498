"""Read models folded from the log: pure folds here, SQL tables in adapters."""
