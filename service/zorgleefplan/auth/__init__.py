"""OAuth 2.0 / SMART authorization: scopes, signing keys, access tokens, bearer principals."""
