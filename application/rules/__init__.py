"""Request rules: the settings admins read and change, and what the pay decision is handed."""
