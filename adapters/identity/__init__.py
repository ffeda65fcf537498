"""Bearer tokens: HMAC-signed, checked against the wall clock."""
