"""Accounts of the default authenticator: password hashes, one-time activation links and
the slowing-down of repeated failed logins. No account can be claimed: an account that an
administrator, the CLI, the REST API or a course roster created has no password until its
owner opens a one-time activation link (hashed here, expiring) and chooses one."""
