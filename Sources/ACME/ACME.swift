// ACME (RFC 8555) client.
